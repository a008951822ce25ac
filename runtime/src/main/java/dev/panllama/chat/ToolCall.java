package dev.panllama.chat;

import dev.panllama.json.JsonReader;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The model's call of a tool: an id that the tool's result refers to, the tool's name, and the
 * arguments as the model wrote them (a JSON object's text).
 */
public record ToolCall(String id, String name, String arguments) {

    public ToolCall {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(arguments, "arguments");
    }

    /** The arguments, read: whole numbers as {@code Long}, as a template's {@code tojson} should write them again. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> argumentValues() {
        Object parsed;
        try {
            parsed = JsonReader.parse(arguments);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("the arguments of tool call " + id + " are not JSON: " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?>)) {
            throw new IllegalArgumentException("the arguments of tool call " + id + " must be a JSON object");
        }
        return (Map<String, Object>) wholeNumbers(parsed);
    }

    /** {@code value} as JSON was read, with its whole numbers as {@code Long}. */
    static Object wholeNumbers(Object value) {
        return switch (value) {
            case Double d when d == Math.rint(d) && Math.abs(d) < 1e15 -> d.longValue();
            case Map<?, ?> map -> {
                Map<String, Object> out = new LinkedHashMap<>();
                map.forEach((k, v) -> out.put((String) k, wholeNumbers(v)));
                yield out;
            }
            case List<?> list -> list.stream().map(ToolCall::wholeNumbers).toList();
            case null, default -> value;
        };
    }
}
