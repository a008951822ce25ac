package dev.panllama.chat;

import dev.panllama.json.JsonReader;

import java.util.Map;

/** A JSON object given as text, as a tool's parameters schema and a call's arguments are. */
final class JsonObjectText {

    private JsonObjectText() {
    }

    /**
     * {@code text} read as a JSON object.
     *
     * @param what what the text is, for the message: "the arguments of tool call c1"
     * @throws IllegalArgumentException when it is not JSON, or JSON of another kind
     */
    @SuppressWarnings("unchecked")
    static Map<String, Object> read(String text, String what) {
        Object parsed;
        try {
            parsed = JsonReader.parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(what + " are not JSON: " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?>)) {
            throw new IllegalArgumentException(what + " must be a JSON object");
        }
        return (Map<String, Object>) parsed;
    }
}
