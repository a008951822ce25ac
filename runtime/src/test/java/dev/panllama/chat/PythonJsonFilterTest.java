package dev.panllama.chat;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code tojson} in a chat template writes what Python's {@code json.dumps} writes (the expected texts
 * are Python 3's, for the same value), as Hugging Face and llama.cpp render templates.
 */
class PythonJsonFilterTest {

    private static final Tool TOOL = new Tool("get_weather", "Temp in °C, \"quoted\"\n\ttab", """
            {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 16},
             "ratio": {"type": "number", "default": 0.25, "tiny": 1.5e-07}}, "required": ["city"], "empty": {}, "none": [],
             "flag": true, "nothing": null}""");

    private static String render(String expression) {
        // A template that mentions tool_calls is given the tools as they are.
        return new JinjaChatFormat("{# tool_calls #}{{ " + expression + " }}", "<s>", "</s>")
                .render(List.of(Message.user("Hi")), List.of(TOOL), false);
    }

    @Test
    void withoutArgumentsItemsAndKeysAreSeparatedAsPythonSeparatesThem() {
        assertEquals("{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Temp in °C, \\\"quoted\\\"\\n\\ttab\", "
                + "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}, \"days\": {\"type\": \"integer\", "
                + "\"minimum\": 1, \"maximum\": 16}, \"ratio\": {\"type\": \"number\", \"default\": 0.25, \"tiny\": 1.5e-07}}, "
                + "\"required\": [\"city\"], \"empty\": {}, \"none\": [], \"flag\": true, \"nothing\": null}}}",
                render("tools[0] | tojson"));
    }

    @Test
    void anIndentPutsEachItemOnALineOfItsOwn() {
        assertEquals("""
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Temp in °C, \\"quoted\\"\\n\\ttab",
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "city": {
                                    "type": "string"
                                },
                                "days": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "maximum": 16
                                },
                                "ratio": {
                                    "type": "number",
                                    "default": 0.25,
                                    "tiny": 1.5e-07
                                }
                            },
                            "required": [
                                "city"
                            ],
                            "empty": {},
                            "none": [],
                            "flag": true,
                            "nothing": null
                        }
                    }
                }""", render("tools[0] | tojson(indent=4)"));
        String unindented = render("tools[0] | tojson(indent=0)");
        assertTrue(unindented.startsWith("{\n\"type\": \"function\",\n\"function\": {\n\"name\": \"get_weather\",\n"), unindented);
    }

    @Test
    void separatorsSortedKeysAndAsciiAreTakenByKeywordOrInOrder() {
        String expected = "{\"function\":{\"description\":\"Temp in \\u00b0C, \\\"quoted\\\"\\n\\ttab\",\"name\":\"get_weather\",\"parameters\":"
                + "{\"empty\":{},\"flag\":true,\"none\":[],\"nothing\":null,\"properties\":{\"city\":{\"type\":\"string\"},\"days\":"
                + "{\"maximum\":16,\"minimum\":1,\"type\":\"integer\"},\"ratio\":{\"default\":0.25,\"tiny\":1.5e-07,\"type\":\"number\"}},"
                + "\"required\":[\"city\"],\"type\":\"object\"}},\"type\":\"function\"}";
        assertEquals(expected, render("tools[0] | tojson(ensure_ascii=true, separators=[',', ':'], sort_keys=true)"));
        assertEquals(expected, render("tools[0] | tojson(true, none, [',', ':'], true)"));
    }

    @Test
    void stringsAndMappingsAreIterableAsInPython() {
        assertEquals("True True True False False", render("('text' is iterable) ~ ' ' ~ (tools[0] is iterable) ~ ' ' ~ ([1] is iterable)"
                + " ~ ' ' ~ (5 is iterable) ~ ' ' ~ (none is iterable)").replace("true", "True").replace("false", "False"));
    }

    @Test
    void numbersAreWrittenAsPythonWritesThem() {
        assertEquals("[1, -3, 0.25, 1.5e-07, 1e+16, 123.456, -2.5e-05]",
                PythonJsonFilter.dumps(List.of(1.0, -3.0, 0.25, 1.5e-7, 1e16, 123.456, -2.5e-5), null, ", ", ": ", false, false));
    }
}
