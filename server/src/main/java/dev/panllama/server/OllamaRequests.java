package dev.panllama.server;

import dev.panllama.json.JsonWriter;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Ollama's {@code /api/chat} and {@code /api/generate} bodies, rewritten as the OpenAI request that asks
 * for the same, so that one {@link RequestReader} checks and reads both APIs. Ollama's {@code options}
 * become the sampling fields of the same names ({@code num_predict} is llama.cpp's {@code n_predict}),
 * {@code format} ({@code "json"} or a schema) becomes {@code response_format}, tool calls' arguments
 * (objects in Ollama) become JSON text, and a {@code tool} message answers the earliest call not yet
 * answered (of its {@code tool_name}, when it names one). {@code stream} is true unless the body says
 * otherwise, as in Ollama; {@code think} becomes llama-server's {@code reasoning_format} and the template's
 * {@code enable_thinking}. What panllama cannot do (images, {@code suffix}, a generate's
 * {@code context} or {@code template}) is refused by name; the options that set up a model in Ollama
 * ({@code num_ctx}, {@code num_gpu}, ...) are the server's command line here and are passed over, as
 * Ollama passes over options it does not know.
 */
final class OllamaRequests {

    /** The {@code options} that mean what the OpenAI or llama.cpp field of the same name means. */
    private static final Set<String> SAMPLING = Set.of("temperature", "top_k", "top_p", "min_p", "typical_p", "seed", "stop",
            "repeat_penalty", "repeat_last_n", "presence_penalty", "frequency_penalty", "mirostat", "mirostat_tau", "mirostat_eta");

    private OllamaRequests() {
    }

    /** An {@code /api/chat} body as a {@code /v1/chat/completions} body. */
    static RequestFields chat(RequestFields body, String modelId) {
        Map<String, Object> openAi = common(body, modelId);
        think(body, openAi);
        List<?> messages = body.array("messages").orElseThrow(() -> ApiException.missing("messages"));
        openAi.put("messages", messages(messages));
        body.array("tools").ifPresent(tools -> openAi.put("tools", tools));
        return RequestFields.of(openAi);
    }

    /**
     * An {@code /api/generate} body: with {@code raw}, its prompt as is ({@code /v1/completions}); else
     * its {@code system} and {@code prompt} as a chat's turns, in the model's chat template, as Ollama
     * applies its template.
     */
    static RequestFields generate(RequestFields body, String modelId) {
        Map<String, Object> openAi = common(body, modelId);
        refuse(body, "suffix", !body.string("suffix").orElse("").isEmpty(), "'suffix' is not supported.");
        refuse(body, "context", !body.array("context").orElse(List.of()).isEmpty(),
                "'context' is not supported: send the conversation to /api/chat.");
        refuse(body, "template", !body.string("template").orElse("").isEmpty(),
                "'template' is not supported: the model's own chat template is used.");
        String prompt = body.string("prompt").orElse("");
        think(body, openAi);
        if (body.bool("raw", false)) {
            openAi.put("prompt", prompt);
            return RequestFields.of(openAi);
        }
        List<Map<String, Object>> messages = new ArrayList<>();
        body.string("system").filter(system -> !system.isEmpty()).ifPresent(system -> messages.add(Map.of("role", "system", "content", system)));
        messages.add(Map.of("role", "user", "content", prompt));
        openAi.put("messages", messages);
        return RequestFields.of(openAi);
    }

    /** The reasoning levels Ollama's {@code think} takes besides true and false (gpt-oss's reasoning efforts). */
    private static final List<String> THINK_LEVELS = List.of("high", "medium", "low");

    /**
     * Ollama's {@code think}: true has the reasoning apart (the reply's {@code thinking}), false asks the
     * template for none ({@code enable_thinking: false}); a level ({@code high}, {@code medium}, {@code low})
     * is true and the template's {@code reasoning_effort} (gpt-oss's; a template without it ignores it).
     * Left out, the reply is one text, as the model writes it.
     */
    private static void think(RequestFields body, Map<String, Object> openAi) {
        Object think = body.raw("think");
        if (think == null) {
            return;
        }
        boolean enabled;
        if (think instanceof Boolean flag) {
            enabled = flag;
        } else if (think instanceof String level && THINK_LEVELS.contains(level)) {
            enabled = true;
            openAi.put("reasoning_effort", level);
        } else {
            throw ApiException.invalid("invalid think value: " + JsonWriter.write(think) + " (must be \"high\", \"medium\", \"low\", true, or false)",
                    "think");
        }
        if (enabled) {
            // Apart whatever the server's --reasoning-format (the endpoint asks for it apart only when thinking).
            openAi.put("reasoning_format", "deepseek");
        }
        openAi.put("chat_template_kwargs", Map.of("enable_thinking", enabled));
    }

    /** Whether a request asks for the reasoning apart ({@code think} true or a level). */
    static boolean thinks(RequestFields body) {
        Object think = body.raw("think");
        return Boolean.TRUE.equals(think) || think instanceof String level && THINK_LEVELS.contains(level);
    }

    /** Whether a generate body is answered as a text completion ({@code raw}) rather than as a chat. */
    static boolean isRaw(RequestFields body) {
        return body.bool("raw", false);
    }

    private static Map<String, Object> common(RequestFields body, String modelId) {
        Map<String, Object> openAi = new LinkedHashMap<>();
        openAi.put("model", servedName(body.string("model").orElseThrow(() -> ApiException.missing("model")), modelId));
        refuse(body, "images", !body.array("images").orElse(List.of()).isEmpty(), "Images are not supported: the model reads text only.");
        openAi.put("stream", body.bool("stream", true));
        body.object("options").ifPresent(options -> {
            for (String name : SAMPLING) {
                if (options.has(name)) {
                    openAi.put(name, options.raw(name));
                }
            }
            options.integer("num_predict", Integer.MIN_VALUE, Integer.MAX_VALUE).ifPresent(limit ->
                    // Ollama's -1 is no limit, and so is -2 (fill the context), which a request without one does here.
                    openAi.put("n_predict", limit < 0 ? -1 : limit));
        });
        Object format = body.raw("format");
        if ("json".equals(format)) {
            openAi.put("response_format", Map.of("type", "json_object"));
        } else if (format instanceof Map<?, ?> schema) {
            openAi.put("response_format", Map.of("type", "json_schema", "json_schema", Map.of("name", "format", "schema", schema)));
        } else if (format != null && !"".equals(format)) {
            throw ApiException.invalid("'format' must be \"json\" or a JSON schema object.", "format");
        }
        return openAi;
    }

    /** Refuses (404) an Ollama request whose {@code model} is not the one served, with or without its tag. */
    static void requireServed(String requested, String modelId) {
        if (!servedName(requested, modelId).equals(modelId)) {
            throw ApiException.modelNotFound(requested, modelId);
        }
    }

    /** The model's served name, which Ollama's clients may write with its default tag, {@code :latest}. */
    static String servedName(String requested, String modelId) {
        return requested.equals(modelId + ":latest") ? modelId : requested;
    }

    private static List<Map<String, Object>> messages(List<?> messages) {
        List<Map<String, Object>> openAi = new ArrayList<>();
        // The calls made so far, by id, with their names, that no tool message has answered yet.
        Map<String, String> unanswered = new LinkedHashMap<>();
        int calls = 0;
        for (RequestFields message : RequestFields.objectsOf(messages, "messages")) {
            String param = message.path();
            refuse(message, param + ".images", !message.array("images").orElse(List.of()).isEmpty(),
                    "Images are not supported: the model reads text only.");
            Map<String, Object> converted = new LinkedHashMap<>();
            message.string("role").ifPresent(role -> converted.put("role", role));
            converted.put("content", message.raw("content"));
            // Ollama's name for what llama-server's messages call reasoning_content.
            message.string("thinking").filter(thinking -> !thinking.isEmpty()).ifPresent(thinking -> converted.put("reasoning_content", thinking));
            List<?> toolCalls = message.array("tool_calls").orElse(List.of());
            if (!toolCalls.isEmpty()) {
                List<Map<String, Object>> openAiCalls = new ArrayList<>();
                for (int c = 0; c < toolCalls.size(); c++) {
                    String callParam = param + ".tool_calls[" + c + "]";
                    if (!(toolCalls.get(c) instanceof Map<?, ?> call) || !(call.get("function") instanceof Map<?, ?> function)) {
                        throw ApiException.invalid("'" + callParam + "' must be an object with a 'function'.", callParam);
                    }
                    String id = "call_" + calls++;
                    Object arguments = function.get("arguments");
                    Map<String, Object> openAiFunction = new LinkedHashMap<>();
                    openAiFunction.put("name", function.get("name"));
                    openAiFunction.put("arguments", arguments instanceof Map<?, ?> ? JsonWriter.write(arguments) : arguments);
                    openAiCalls.add(Map.of("id", id, "type", "function", "function", openAiFunction));
                    unanswered.put(id, String.valueOf(function.get("name")));
                }
                converted.put("tool_calls", openAiCalls);
            }
            if ("tool".equals(converted.get("role"))) {
                String name = message.string("tool_name").orElse(null);
                String answered = unanswered.entrySet().stream()
                        .filter(call -> name == null || call.getValue().equals(name))
                        .map(Map.Entry::getKey).findFirst().orElse("call_" + calls++);
                unanswered.remove(answered);
                converted.put("tool_call_id", answered);
            }
            openAi.add(converted);
        }
        return openAi;
    }

    private static void refuse(RequestFields body, String param, boolean asked, String message) {
        if (asked) {
            throw ApiException.unsupported(message, param);
        }
    }
}
