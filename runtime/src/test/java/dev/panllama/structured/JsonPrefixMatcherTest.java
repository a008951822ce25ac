package dev.panllama.structured;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The schema compiler and the prefix matcher: prefixes, whole documents, and the schemas refused. */
class JsonPrefixMatcherTest {

    static final String PERSON = """
            {"type": "object",
             "properties": {
               "name": {"type": "string", "maxLength": 8},
               "age": {"type": "integer"},
               "colour": {"enum": ["red", "green", "dark red"]},
               "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
               "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                           "additionalProperties": false}
             },
             "required": ["name", "age"],
             "additionalProperties": false}
            """;

    static JsonPrefixMatcher matcher(String schema) {
        return JsonSchema.compile(schema).matcher();
    }

    static boolean prefix(String schema, String text) {
        return !matcher(schema).feed(text).isDead();
    }

    static boolean whole(String schema, String text) {
        return matcher(schema).accepts(text);
    }

    @Test
    void validAndInvalidPrefixesOfAnObject() {
        assertTrue(prefix(PERSON, ""));
        assertTrue(prefix(PERSON, "{"));
        assertTrue(prefix(PERSON, "{\"na"));
        assertTrue(prefix(PERSON, "{\"name\": \"Ann\", \"a"));
        assertTrue(prefix(PERSON, "{ \"age\" : 4"));
        assertFalse(prefix(PERSON, " {"), "no whitespace before the document");
        assertFalse(prefix(PERSON, "["));
        assertFalse(prefix(PERSON, "{\"nickname\""), "undeclared property");
        assertFalse(prefix(PERSON, "{\"age\": 4.5"), "an integer has no fraction");
        assertFalse(prefix(PERSON, "{\"age\": 04"), "no leading zeros");
        assertFalse(prefix(PERSON, "{\"age\": \"4\""));
        assertFalse(prefix(PERSON, "{\"name\": \"Ann\", \"name\""), "a property at most once");
        assertFalse(prefix(PERSON, "{\"name\": \"Ann\",}"));
        assertFalse(prefix(PERSON, "{\"name\": \"Ann\"}"), "age is required");
    }

    @Test
    void wholeDocumentsAndRequiredProperties() {
        assertTrue(whole(PERSON, "{\"name\":\"Ann\",\"age\":42}"));
        assertTrue(whole(PERSON, "{\"age\":-7,\n  \"name\":\"\",\"colour\":\"dark red\",\"tags\":[\"x\"],\"address\":{\"city\":\"Oslo\"}}"));
        assertFalse(whole(PERSON, "{\"name\":\"Ann\",\"age\":42"), "not closed");
        assertFalse(whole(PERSON, "{\"name\":\"Ann\",\"age\":42} "), "no whitespace after the document");
        assertFalse(prefix(PERSON, "{\"name\":\"Ann\",\"age\":1,\"address\":{}"), "city is required");
        assertTrue(matcher(PERSON).feed("{\"name\":\"A\",\"age\":1}").isComplete());
        assertFalse(matcher(PERSON).feed("{\"name\":\"A\",\"age\":1}").canContinue(), "nothing follows the closing brace");
    }

    @Test
    void enumsTellTheirValuesApartByteByByte() {
        String colour = "{\"enum\": [\"red\", \"green\", \"dark red\", 7, null, {\"a\": [1, 2.5]}]}";
        assertTrue(prefix(colour, "\"dar"));
        assertFalse(prefix(colour, "\"db"));
        assertTrue(whole(colour, "\"red\""));
        assertFalse(whole(colour, "\"re\""));
        assertTrue(whole(colour, "7"));
        assertFalse(whole(colour, "7.0"), "one spelling per value");
        assertTrue(whole(colour, "null"));
        assertTrue(whole(colour, "{\"a\":[1,2.5]}"));
        assertTrue(whole("{\"const\": 3, \"type\": \"integer\"}", "3"));
        assertThrows(IllegalArgumentException.class, () -> JsonSchema.compile("{\"enum\": [\"a\"], \"type\": \"integer\"}"));
        assertTrue(whole("{\"type\": \"string\", \"enum\": [\"a\", 1]}", "\"a\""));
        assertFalse(whole("{\"type\": \"string\", \"enum\": [\"a\", 1]}", "1"), "the type keeps only the string");
    }

    @Test
    void arraysCountTheirItems() {
        String pair = "{\"type\": \"array\", \"items\": {\"type\": \"boolean\"}, \"minItems\": 1, \"maxItems\": 2}";
        assertFalse(whole(pair, "[]"));
        assertTrue(whole(pair, "[true]"));
        assertTrue(whole(pair, "[ true , false ]"));
        assertFalse(prefix(pair, "[true,false,"), "no comma once the array is full");
        assertFalse(prefix(pair, "[true,]"));
        assertTrue(whole("{\"type\": \"array\", \"maxItems\": 0}", "[]"));
        assertFalse(prefix("{\"type\": \"array\", \"maxItems\": 0}", "[1"));
    }

    @Test
    void nestingAnyOfAndRecursiveReferences() {
        String tree = """
                {"$ref": "#/$defs/node",
                 "$defs": {"node": {"type": "object", "additionalProperties": false, "required": ["value"],
                   "properties": {"value": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                                  "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}}
                """;
        assertTrue(whole(tree, "{\"value\":1,\"children\":[{\"value\":null},{\"value\":2,\"children\":[{\"value\":3}]}]}"));
        assertFalse(prefix(tree, "{\"value\":1,\"children\":[{\"value\":\"x\""));
        assertFalse(prefix(tree, "{\"value\":1,\"children\":[{}"), "value is required at every level");
        assertThrows(IllegalArgumentException.class,
                () -> JsonSchema.compile("{\"$ref\": \"#/$defs/a\", \"$defs\": {\"a\": {\"anyOf\": [{\"$ref\": \"#/$defs/a\"}, {\"type\": \"null\"}]}}}"),
                "a reference that reaches itself without consuming anything");
        assertTrue(whole("{\"type\": [\"string\", \"null\"]}", "null"));
        assertTrue(whole("{\"type\": [\"string\", \"null\"]}", "\"x\""));
        assertFalse(prefix("{\"type\": [\"string\", \"null\"]}", "1"));
    }

    @Test
    void oneOfOnlyWhereTheAlternativesCannotOverlap() {
        String shapes = """
                {"oneOf": [
                  {"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "number"}}, "required": ["kind", "r"]},
                  {"type": "object", "properties": {"kind": {"const": "square"}, "side": {"type": "number"}}, "required": ["kind", "side"]},
                  {"type": "string"}]}
                """;
        assertTrue(whole(shapes, "{\"kind\":\"circle\",\"r\":1.5e3}"));
        assertTrue(whole(shapes, "\"neither\""));
        assertFalse(whole(shapes, "{\"kind\":\"circle\",\"side\":1}"));
        IllegalArgumentException overlap = assertThrows(IllegalArgumentException.class,
                () -> JsonSchema.compile("{\"oneOf\": [{\"type\": \"number\"}, {\"type\": \"integer\"}]}"));
        assertTrue(overlap.getMessage().contains("oneOf at #"), overlap.getMessage());
    }

    @Test
    void stringsAreValidUtf8AndCountCharacters() {
        String short3 = "{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}";
        assertTrue(whole(short3, "\"√é😀\""), "three characters, nine bytes");
        assertFalse(prefix(short3, "\"abcd"));
        assertFalse(whole(short3, "\"a\""));
        assertTrue(whole(short3, "\"\\n\\u00e9\""));
        assertFalse(prefix(short3, "\"\\ud8"), "no surrogate escapes");
        assertFalse(prefix(short3, "\"\\x"));
        assertFalse(prefix(short3, "\"a\nb"), "no raw control characters");
        JsonPrefixMatcher any = matcher("{\"type\": \"string\"}");
        assertFalse(any.feed(new byte[] {'"', (byte) 0xE2, (byte) 0x88}).isDead(), "a character split across tokens");
        assertTrue(any.feed(new byte[] {'"', (byte) 0xC0}).isDead(), "an overlong form");
        assertTrue(any.feed(new byte[] {'"', (byte) 0xED, (byte) 0xA0}).isDead(), "an encoded surrogate");
        assertTrue(any.feed(new byte[] {'"', (byte) 0xF4, (byte) 0x90}).isDead(), "beyond U+10FFFF");
    }

    @Test
    void numbersAndWhitespaceAreBounded() {
        String number = "{\"type\": \"number\"}";
        assertTrue(whole(number, "-0.5E+12"));
        assertTrue(whole(number, "123456789012345"));
        assertFalse(prefix(number, "1234567890123456"));
        assertFalse(prefix(number, "1e123"));
        assertFalse(prefix(number, "1."  + "0".repeat(16)));
        JsonPrefixMatcher top = matcher(number).feed("12");
        assertTrue(top.isComplete());
        assertTrue(top.canContinue(), "a number may go on");
        String list = "{\"type\": \"array\"}";
        assertTrue(whole(list, "[ 1,\t2 ]"));
        assertTrue(whole(list, "[\n" + " ".repeat(Whitespace.MAX_INDENT) + "1,\n\t\t2\n]"));
        assertFalse(prefix(list, "[\n" + " ".repeat(Whitespace.MAX_INDENT + 1)), "an indent has a limit");
        assertFalse(prefix(list, "[  "), "one space, not two");
        assertFalse(prefix(list, "[\n\n"), "one line break per gap");
        assertFalse(prefix(list, "[ \n"));
        assertFalse(prefix(list, "[\r\n"));
    }

    @Test
    void anyObjectTakesAnyPropertiesOnceEach() {
        JsonSchema object = JsonSchema.anyObject();
        assertTrue(object.accepts("{}"));
        assertTrue(object.accepts("{\"a\":[1,{\"b\":null}],\"c\":\"d\",\"e\":true}"));
        assertFalse(object.accepts("[1]"));
        assertTrue(object.matcher().feed("{\"a\":1,\"a\"").isDead(), "a name at most once");
        assertTrue(whole("{\"type\": \"object\"}", "{\"x\":{\"y\":[]}}"));
        String extra = "{\"properties\": {\"a\": {\"type\": \"integer\"}}, \"additionalProperties\": {\"type\": \"boolean\"}}";
        assertTrue(whole(extra, "{\"b\":true,\"a\":1}"));
        assertFalse(prefix(extra, "{\"a\":true"), "the declared property keeps its own schema");
        assertFalse(prefix(extra, "{\"b\":1"));
    }

    @Test
    void unsupportedOrInvalidSchemasAreNamedInTheMessage() {
        assertMessage("{\"type\": \"string\", \"pattern\": \"^a\"}", "unsupported JSON schema keyword 'pattern' at #");
        assertMessage("{\"properties\": {\"n\": {\"type\": \"number\", \"minimum\": 0}}}", "'minimum' at #/properties/n");
        assertMessage("{\"type\": \"objekt\"}", "unknown type 'objekt'");
        assertMessage("{\"type\": ", "not valid JSON");
        assertMessage("{\"$ref\": \"http://example.com/s.json\"}", "must point into this schema");
        assertMessage("{\"$ref\": \"#/$defs/missing\"}", "names nothing");
        assertMessage("{\"type\": \"array\", \"minItems\": 3, \"maxItems\": 2}", "minItems is above maxItems");
        assertMessage("{\"required\": [\"a\"], \"properties\": {}, \"additionalProperties\": false}", "required property 'a'");
        assertMessage("{\"type\": \"array\", \"items\": [{\"type\": \"string\"}]}", "tuple");
        assertMessage("false", "accepts nothing");
    }

    private static void assertMessage(String schema, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JsonSchema.compile(schema));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void theDocumentIsItsValueAlone() {
        assertEquals(true, whole("{}", "true"));
        assertFalse(whole("{}", "true false"));
        assertTrue(whole("true", "[\"anything\"]"));
    }
}
