package dev.panllama.structured;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns a JSON schema, as {@code dev.panllama.json.JsonReader} reads it, into {@link Shape}s. It takes
 * the subset that decides what a document looks like: {@code type}, {@code properties},
 * {@code required}, {@code additionalProperties}, {@code items}, {@code minItems}, {@code maxItems},
 * {@code minLength}, {@code maxLength}, {@code enum}, {@code const}, {@code anyOf}, {@code oneOf} and
 * {@code $ref} into the same document. Annotations (title, description, ...) are ignored; any other
 * keyword is refused with its name and place, since ignoring it would let through documents the
 * schema rejects.
 *
 * <p>Narrower than the schema, never wider: an object with {@code properties} but no
 * {@code additionalProperties} takes only its declared properties, an {@code integer} is written
 * without a fraction, and an {@code enum}'s values are written in one spelling ({@link JsonText}).
 */
final class SchemaCompiler {

    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "examples", "default", "$schema",
            "$id", "$comment", "deprecated", "readOnly", "writeOnly", "$defs", "definitions");
    private static final Set<String> SUPPORTED = Set.of("type", "properties", "required", "additionalProperties",
            "items", "minItems", "maxItems", "minLength", "maxLength", "enum", "const", "anyOf", "oneOf", "$ref");
    private static final Set<String> OBJECT_KEYWORDS = Set.of("properties", "required", "additionalProperties");
    private static final Set<String> ARRAY_KEYWORDS = Set.of("items", "minItems", "maxItems");
    private static final Set<String> STRING_KEYWORDS = Set.of("minLength", "maxLength");

    private final Object document;
    private final Map<String, Shape.ReferenceShape> references = new LinkedHashMap<>();
    private final Shape any = Shape.anyValue();
    /** Checks that follow references, run once every reference is resolved. */
    private final List<Runnable> afterReferences = new ArrayList<>();

    private SchemaCompiler(Object document) {
        this.document = document;
    }

    /** The shape of documents that {@code schema} accepts; an {@link IllegalArgumentException} names what it cannot take. */
    static Shape compile(Object schema) {
        SchemaCompiler compiler = new SchemaCompiler(schema);
        Shape root = compiler.compile(schema, "#");
        compiler.afterReferences.forEach(Runnable::run);
        return root;
    }

    private Shape compile(Object schema, String path) {
        if (schema instanceof Boolean accepts) {
            if (!accepts) {
                throw new IllegalArgumentException("the schema at " + path + " is false: it accepts nothing");
            }
            return any;
        }
        if (!(schema instanceof Map<?, ?> raw)) {
            throw new IllegalArgumentException("the schema at " + path + " is not an object");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> map = (Map<String, Object>) raw;
        for (String keyword : map.keySet()) {
            if (!SUPPORTED.contains(keyword) && !ANNOTATIONS.contains(keyword)) {
                throw new IllegalArgumentException("unsupported JSON schema keyword '" + keyword + "' at " + path);
            }
        }
        if (map.containsKey("$ref")) {
            alone(map, "$ref", path);
            return reference(map.get("$ref"), path);
        }
        if (map.containsKey("anyOf") && map.containsKey("oneOf")) {
            throw new IllegalArgumentException("anyOf and oneOf together at " + path + " are not supported");
        }
        for (String keyword : List.of("anyOf", "oneOf")) {
            if (map.containsKey(keyword)) {
                alone(map, keyword, path);
                return alternatives(map.get(keyword), keyword, path);
            }
        }
        if (map.containsKey("enum") || map.containsKey("const")) {
            return literals(map, path);
        }
        return typed(map, path);
    }

    /** Refuses keywords beside {@code keyword} that would narrow it, which this compiler does not combine. */
    private static void alone(Map<String, Object> map, String keyword, String path) {
        for (String other : map.keySet()) {
            if (!other.equals(keyword) && !ANNOTATIONS.contains(other)) {
                throw new IllegalArgumentException("'" + other + "' beside '" + keyword + "' at " + path + " is not supported");
            }
        }
    }

    /** A {@code $ref}, its target compiled on first use: a definition that refers to itself finds its reference unresolved. */
    private Shape reference(Object target, String path) {
        if (!(target instanceof String pointer) || !(pointer.equals("#") || pointer.startsWith("#/"))) {
            throw new IllegalArgumentException("$ref at " + path + " must point into this schema (\"#/$defs/Name\"), not " + target);
        }
        Shape.ReferenceShape known = references.get(pointer);
        if (known != null) {
            return known;
        }
        Object pointee = pointee(pointer);
        Shape.ReferenceShape reference = new Shape.ReferenceShape(pointer);
        references.put(pointer, reference);
        reference.resolve(compile(pointee, pointer));
        // The last reference of a cycle to be resolved sees the whole cycle.
        checkConsumes(reference.target(), reference, new HashSet<>());
        return reference;
    }

    /** The part of the schema a JSON pointer such as {@code #/$defs/Node} names. */
    private Object pointee(String pointer) {
        Object node = document;
        if (pointer.equals("#")) {
            return node;
        }
        for (String token : pointer.substring(2).split("/", -1)) {
            String name = token.replace("~1", "/").replace("~0", "~");
            if (node instanceof Map<?, ?> map && map.containsKey(name)) {
                node = map.get(name);
            } else if (node instanceof List<?> list && name.matches("\\d+") && Integer.parseInt(name) < list.size()) {
                node = list.get(Integer.parseInt(name));
            } else {
                throw new IllegalArgumentException("$ref " + pointer + " names nothing in the schema");
            }
        }
        return node;
    }

    private Shape alternatives(Object value, String keyword, String path) {
        if (!(value instanceof List<?> list) || list.isEmpty()) {
            throw new IllegalArgumentException(keyword + " at " + path + " must be a non-empty array of schemas");
        }
        List<Shape> alternatives = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            alternatives.add(compile(list.get(i), path + "/" + keyword + "/" + i));
        }
        if (keyword.equals("oneOf")) {
            // Exactly one must match: the compiler takes oneOf only where no document can match two.
            afterReferences.add(() -> checkDisjoint(alternatives, path));
        }
        return alternatives.size() == 1 ? alternatives.getFirst() : new Shape.ChoiceShape(List.copyOf(alternatives));
    }

    private static void checkDisjoint(List<Shape> alternatives, String path) {
        for (int i = 0; i < alternatives.size(); i++) {
            for (int j = i + 1; j < alternatives.size(); j++) {
                if (!ShapeOverlap.disjoint(alternatives.get(i), alternatives.get(j))) {
                    throw new IllegalArgumentException("oneOf at " + path + ": alternatives " + i + " and " + j
                            + " may both match one value, which is not supported; use anyOf, or tell them apart"
                            + " by type, const or a required property with a const");
                }
            }
        }
    }

    /** {@code enum} and {@code const}: their values, those the rest of the schema also accepts. */
    private Shape literals(Map<String, Object> map, String path) {
        List<String> texts = new ArrayList<>();
        if (map.containsKey("enum")) {
            if (!(map.get("enum") instanceof List<?> values) || values.isEmpty()) {
                throw new IllegalArgumentException("enum at " + path + " must be a non-empty array");
            }
            for (Object value : values) {
                String text = literalText(value, path);
                if (!texts.contains(text)) {
                    texts.add(text);
                }
            }
        }
        if (map.containsKey("const")) {
            String text = literalText(map.get("const"), path);
            if (map.containsKey("enum") && !texts.contains(text)) {
                throw new IllegalArgumentException("const at " + path + " is not one of its enum's values");
            }
            texts = List.of(text);
        }
        Map<String, Object> rest = new LinkedHashMap<>(map);
        rest.remove("enum");
        rest.remove("const");
        JsonPrefixMatcher restMatcher = JsonPrefixMatcher.start(typed(rest, path));
        List<Shape> shapes = new ArrayList<>();
        for (String text : texts) {
            if (restMatcher.accepts(text)) {
                shapes.add(Shape.LiteralShape.of(text));
            }
        }
        if (shapes.isEmpty()) {
            throw new IllegalArgumentException("no value of the enum or const at " + path + " satisfies the rest of its schema");
        }
        return shapes.size() == 1 ? shapes.getFirst() : new Shape.ChoiceShape(List.copyOf(shapes));
    }

    private static String literalText(Object value, String path) {
        try {
            return JsonText.write(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("at " + path + ": " + e.getMessage(), e);
        }
    }

    /** {@code type} (one or several), or the type the keywords imply, or any value. */
    private Shape typed(Map<String, Object> map, String path) {
        List<String> types = new ArrayList<>();
        Object type = map.get("type");
        if (type instanceof String single) {
            types.add(single);
        } else if (type instanceof List<?> several && !several.isEmpty() && several.stream().allMatch(String.class::isInstance)) {
            several.forEach(t -> types.add((String) t));
        } else if (type != null) {
            throw new IllegalArgumentException("type at " + path + " must be a type name or an array of them");
        } else {
            if (map.keySet().stream().anyMatch(OBJECT_KEYWORDS::contains)) {
                types.add("object");
            }
            if (map.keySet().stream().anyMatch(ARRAY_KEYWORDS::contains)) {
                types.add("array");
            }
            if (map.keySet().stream().anyMatch(STRING_KEYWORDS::contains)) {
                types.add("string");
            }
            if (types.isEmpty()) {
                return any;
            }
        }
        List<Shape> shapes = new ArrayList<>();
        for (String name : types) {
            shapes.add(switch (name) {
                case "object" -> object(map, path);
                case "array" -> array(map, path);
                case "string" -> string(map, path);
                case "number" -> new Shape.NumberShape(false);
                case "integer" -> new Shape.NumberShape(true);
                case "boolean" -> new Shape.ChoiceShape(List.of(Shape.LiteralShape.of("true"), Shape.LiteralShape.of("false")));
                case "null" -> Shape.LiteralShape.of("null");
                default -> throw new IllegalArgumentException("unknown type '" + name + "' at " + path);
            });
        }
        return shapes.size() == 1 ? shapes.getFirst() : new Shape.ChoiceShape(List.copyOf(shapes));
    }

    private Shape object(Map<String, Object> map, String path) {
        Map<String, Shape> declared = new LinkedHashMap<>();
        Object properties = map.get("properties");
        if (properties instanceof Map<?, ?> entries) {
            for (Map.Entry<?, ?> entry : entries.entrySet()) {
                String name = (String) entry.getKey();
                declared.put(name, compile(entry.getValue(), path + "/properties/" + name));
            }
        } else if (properties != null) {
            throw new IllegalArgumentException("properties at " + path + " must be an object");
        }
        Object additionalValue = map.get("additionalProperties");
        Shape additional;
        if (additionalValue == null) {
            additional = declared.isEmpty() ? any : null;
        } else if (additionalValue instanceof Boolean allowed) {
            additional = allowed ? any : null;
        } else {
            additional = compile(additionalValue, path + "/additionalProperties");
        }
        List<String> required = new ArrayList<>();
        Object requiredValue = map.get("required");
        if (requiredValue instanceof List<?> names && names.stream().allMatch(String.class::isInstance)) {
            names.forEach(n -> required.add((String) n));
        } else if (requiredValue != null) {
            throw new IllegalArgumentException("required at " + path + " must be an array of property names");
        }
        for (String name : required) {
            if (!declared.containsKey(name)) {
                if (additional == null) {
                    throw new IllegalArgumentException("required property '" + name + "' at " + path
                            + " is not among its properties, and no other property is allowed");
                }
                declared.put(name, additional);
            }
        }
        if (declared.size() > ObjectFrame.MAX_PROPERTIES) {
            throw new IllegalArgumentException("the object at " + path + " declares " + declared.size()
                    + " properties; at most " + ObjectFrame.MAX_PROPERTIES + " are supported");
        }
        List<Shape.Property> list = new ArrayList<>();
        long requiredMask = 0;
        for (Map.Entry<String, Shape> entry : declared.entrySet()) {
            if (required.contains(entry.getKey())) {
                requiredMask |= 1L << list.size();
            }
            list.add(new Shape.Property(entry.getKey(), entry.getValue()));
        }
        return new Shape.ObjectShape(List.copyOf(list), requiredMask, additional);
    }

    private Shape array(Map<String, Object> map, String path) {
        Object items = map.get("items");
        if (items instanceof List<?>) {
            throw new IllegalArgumentException("items as an array (a tuple) at " + path + " is not supported");
        }
        Shape itemShape = items == null ? any : compile(items, path + "/items");
        int min = count(map, "minItems", 0, path);
        int max = count(map, "maxItems", -1, path);
        if (max >= 0 && min > max) {
            throw new IllegalArgumentException("minItems is above maxItems at " + path);
        }
        return new Shape.ArrayShape(itemShape, min, max);
    }

    private Shape string(Map<String, Object> map, String path) {
        int min = count(map, "minLength", 0, path);
        int max = count(map, "maxLength", -1, path);
        if (max >= 0 && min > max) {
            throw new IllegalArgumentException("minLength is above maxLength at " + path);
        }
        return new Shape.StringShape(min, max);
    }

    private static int count(Map<String, Object> map, String keyword, int absent, String path) {
        Object value = map.get(keyword);
        if (value == null) {
            return absent;
        }
        if (value instanceof Double d && d >= 0 && d == Math.rint(d) && d <= Integer.MAX_VALUE) {
            return d.intValue();
        }
        throw new IllegalArgumentException(keyword + " at " + path + " must be a non-negative integer, not " + value);
    }

    /** Refuses a reference that reaches itself through alternatives only: matching it would never consume a byte. */
    private static void checkConsumes(Shape shape, Shape.ReferenceShape start, Set<Shape> visited) {
        switch (shape) {
            case Shape.ReferenceShape reference -> {
                if (reference == start) {
                    throw new IllegalArgumentException("$ref " + start.pointer + " refers to itself with no object or array in between");
                }
                if (reference.isResolved() && visited.add(reference)) {
                    checkConsumes(reference.target(), start, visited);
                }
            }
            case Shape.ChoiceShape choice -> choice.alternatives().forEach(a -> checkConsumes(a, start, visited));
            default -> { }
        }
    }
}
