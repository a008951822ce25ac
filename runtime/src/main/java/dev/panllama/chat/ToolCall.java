package dev.panllama.chat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The model's call of a tool: an id that the tool's result refers to, the tool's name, and the
 * arguments as the model wrote them (a JSON object's text; anything else is refused).
 */
public record ToolCall(String id, String name, String arguments) {

    public ToolCall {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(name, "name");
        JsonObjectText.read(Objects.requireNonNull(arguments, "arguments"), "the arguments of tool call " + id);
    }

    /** The arguments, read: whole numbers as {@code Long}, as a template's {@code tojson} should write them again. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> argumentValues() {
        return (Map<String, Object>) wholeNumbers(JsonObjectText.read(arguments, "the arguments of tool call " + id));
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
