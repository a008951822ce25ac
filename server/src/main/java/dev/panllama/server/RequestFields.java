package dev.panllama.server;

import dev.panllama.json.JsonReader;

import java.nio.charset.StandardCharsets;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A request's JSON object, read field by field with the types OpenAI's API gives them. A field that is
 * absent or null takes its default; one of the wrong type or out of range is an {@link ApiException}
 * naming it.
 */
final class RequestFields {

    private final Map<?, ?> fields;
    /** Where the object stands in the request ({@code messages[2]}), for the names errors give; empty for the body. */
    private final String path;

    private RequestFields(Map<?, ?> fields, String path) {
        this.fields = fields;
        this.path = path;
    }

    /** Parses a request body, which must be one JSON object. */
    static RequestFields parse(byte[] body) {
        Object value;
        try {
            value = JsonReader.parse(new String(body, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("We could not parse the JSON body of your request: " + e.getMessage(), null);
        }
        if (!(value instanceof Map<?, ?> map)) {
            throw ApiException.invalid("The body of your request must be a JSON object.", null);
        }
        return new RequestFields(map, "");
    }

    /** A body made here (another API's request rewritten), or an object whose errors name its fields alone. */
    static RequestFields of(Map<?, ?> fields) {
        return new RequestFields(fields, "");
    }

    /** The object at {@code path} of a request ({@code messages[2]}): errors name its fields by their whole path. */
    static RequestFields of(Map<?, ?> fields, String path) {
        return new RequestFields(fields, path);
    }

    /** A field's name as errors give it: its whole path in the request. */
    private String at(String name) {
        return path.isEmpty() ? name : path + "." + name;
    }

    /** The fields as the body gives them (nulls included), in its order. */
    List<Map.Entry<String, Object>> entries() {
        return fields.entrySet().stream()
                .<Map.Entry<String, Object>>map(field -> new AbstractMap.SimpleImmutableEntry<>(String.valueOf(field.getKey()), field.getValue()))
                .toList();
    }

    boolean has(String name) {
        return fields.get(name) != null;
    }

    /** The raw value, for fields of several possible types; null when absent. */
    Object raw(String name) {
        return fields.get(name);
    }

    Optional<String> string(String name) {
        Object value = fields.get(name);
        if (value == null) {
            return Optional.empty();
        }
        if (value instanceof String s) {
            return Optional.of(s);
        }
        throw wrongType(at(name), "a string");
    }

    String requiredString(String name) {
        return string(name).orElseThrow(() -> ApiException.missing(at(name)));
    }

    boolean bool(String name, boolean otherwise) {
        Object value = fields.get(name);
        if (value == null) {
            return otherwise;
        }
        if (value instanceof Boolean b) {
            return b;
        }
        throw wrongType(at(name), "a boolean");
    }

    /** A number within [min, max]. */
    Optional<Double> number(String name, double min, double max) {
        Object value = fields.get(name);
        if (value == null) {
            return Optional.empty();
        }
        if (!(value instanceof Number n)) {
            throw wrongType(at(name), "a number");
        }
        double d = n.doubleValue();
        if (!(d >= min && d <= max)) {
            throw ApiException.invalid("'" + at(name) + "' must be within [" + plain(min) + ", " + plain(max) + "], not " + plain(d) + ".",
                    at(name));
        }
        return Optional.of(d);
    }

    /** A whole number within [min, max]. */
    Optional<Long> integer(String name, long min, long max) {
        Object value = fields.get(name);
        if (value == null) {
            return Optional.empty();
        }
        if (!(value instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || Double.isInfinite(n.doubleValue())) {
            throw wrongType(at(name), "an integer");
        }
        double d = n.doubleValue();
        if (d < min || d > max) {
            throw ApiException.invalid("'" + at(name) + "' must be within [" + min + ", " + max + "], not " + plain(d) + ".", at(name));
        }
        return Optional.of((long) d);
    }

    /** A number within [min, max] as a float, {@code otherwise} where the field is left out. */
    float number(String name, double min, double max, float otherwise) {
        return number(name, min, max).map(Double::floatValue).orElse(otherwise);
    }

    /** A whole number within [min, max] as an int, {@code otherwise} where the field is left out. */
    int integer(String name, int min, int max, int otherwise) {
        return integer(name, (long) min, max).map(Math::toIntExact).orElse(otherwise);
    }

    Optional<List<?>> array(String name) {
        Object value = fields.get(name);
        if (value == null) {
            return Optional.empty();
        }
        if (value instanceof List<?> list) {
            return Optional.of(list);
        }
        throw wrongType(at(name), "an array");
    }

    /** The array {@code name}, whose items must be objects, each read with its path ({@code name[i]}); empty when absent. */
    List<RequestFields> objects(String name) {
        return array(name).map(list -> objectsOf(list, at(name))).orElse(List.of());
    }

    /** {@code list}, the request's {@code param}, whose items must be objects: each read with its path ({@code param[i]}). */
    static List<RequestFields> objectsOf(List<?> list, String param) {
        List<RequestFields> objects = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            String at = param + "[" + i + "]";
            if (!(list.get(i) instanceof Map<?, ?> map)) {
                throw wrongType(at, "an object");
            }
            objects.add(new RequestFields(map, at));
        }
        return objects;
    }

    /** Where this object stands in the request ({@code messages[2]}); empty for the body itself. */
    String path() {
        return path;
    }

    Optional<RequestFields> object(String name) {
        Object value = fields.get(name);
        if (value == null) {
            return Optional.empty();
        }
        if (value instanceof Map<?, ?> map) {
            return Optional.of(new RequestFields(map, at(name)));
        }
        throw wrongType(at(name), "an object");
    }

    /**
     * {@code value}, the request's {@code name}, as a token id of a vocabulary of {@code size}: a whole
     * number from 0 to {@code size - 1}; else a 400 for the field {@code param}.
     */
    static int tokenId(Object value, int size, String name, String param) {
        if (value instanceof Number number) {
            double id = number.doubleValue();
            if (id == Math.rint(id) && id >= 0 && id < size) {
                return (int) id;
            }
        }
        throw ApiException.invalid("'" + name + "' is not a token id of this model (0 to " + (size - 1) + ").", param);
    }

    /** {@code list}, the request's {@code param}, as token ids of a vocabulary of {@code size} ({@link #tokenId}, each named {@code param[i]}). */
    static int[] tokenIds(List<?> list, int size, String param) {
        int[] ids = new int[list.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tokenId(list.get(i), size, param + "[" + i + "]", param);
        }
        return ids;
    }

    static ApiException wrongType(String name, String expected) {
        return ApiException.invalid("'" + name + "' must be " + expected + ".", name);
    }

    private static String plain(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }
}
