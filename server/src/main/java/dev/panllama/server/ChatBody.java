package dev.panllama.server;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@code /v1/chat/completions} body that a request of another API (OpenAI's Responses, Anthropic's
 * Messages) is rewritten as, so that {@link RequestReader} reads every API alike: the conversation and
 * tools as that API's reader converted them, and the request's other fields (sampling, OpenAI's and
 * llama.cpp's) passed on as they are, as llama-server passes them.
 */
final class ChatBody {

    private final Map<String, Object> fields = new LinkedHashMap<>();

    /** {@code body}'s model, and {@code messages}, {@code tools} and {@code toolChoice} (left out when there are none). */
    ChatBody(RequestFields body, List<Map<String, Object>> messages, List<Object> tools, Object toolChoice) {
        body.string("model").ifPresent(model -> fields.put("model", model));
        fields.put("messages", messages);
        if (!tools.isEmpty()) {
            fields.put("tools", tools);
        }
        if (toolChoice != null) {
            fields.put("tool_choice", toolChoice);
        }
    }

    /** A chat message of {@code role} holding {@code text}, as the chat body's {@code messages} take it (more fields may follow). */
    static Map<String, Object> message(String role, String text) {
        Map<String, Object> message = new LinkedHashMap<>();
        message.put("role", role);
        message.put("content", text);
        return message;
    }

    ChatBody put(String name, Object value) {
        fields.put(name, value);
        return this;
    }

    /** The body: the fields put, then those of {@code body} not among them nor in {@code converted} (its API's own). */
    RequestFields withOthersOf(RequestFields body, Set<String> converted) {
        Map<String, Object> all = new LinkedHashMap<>(fields);
        for (Map.Entry<String, Object> field : body.entries()) {
            if (!converted.contains(field.getKey())) {
                all.putIfAbsent(field.getKey(), field.getValue());
            }
        }
        return RequestFields.of(all);
    }
}
