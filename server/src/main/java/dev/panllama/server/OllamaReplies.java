package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.PanllamaVersion;
import dev.panllama.chat.ChatFormat;
import dev.panllama.chat.JinjaChatFormat;
import dev.panllama.chat.ToolCall;
import dev.panllama.gguf.GgufFingerprint;
import dev.panllama.json.JsonReader;
import dev.panllama.placement.MemoryNeeds;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The bodies of Ollama's replies, for one served model: {@code /api/chat}'s and {@code /api/generate}'s,
 * whole or as the lines of a stream (the last one {@code done}, with the token counts and durations in
 * nanoseconds), the model's listing ({@code /api/tags}, {@code /api/show}, {@code /api/ps}; its digest
 * is the file's {@link GgufFingerprint}, not the hash of an Ollama manifest) and {@code /api/version}
 * (panllama's). A chat's tool calls carry their arguments as objects, as Ollama writes them.
 */
final class OllamaReplies {

    /** Whether a reply is a chat's message or a generate's response. */
    enum Kind { CHAT, GENERATE }

    private final LlamaModel model;
    private final ChatFormat chatFormat;
    private final String modelId;
    private final String loadedAt;

    OllamaReplies(LlamaModel model, ChatFormat chatFormat, String modelId, Instant loaded) {
        this.model = model;
        this.chatFormat = chatFormat;
        this.modelId = modelId;
        this.loadedAt = loaded.toString();
    }

    /** A line of a stream: a piece of the reply's reasoning (with {@code think}) or text, or (for a chat) the tool calls it makes. */
    Map<String, Object> piece(Kind kind, String thinking, String text, List<ToolCall> calls) {
        Map<String, Object> body = envelope();
        put(body, kind, thinking, text, calls);
        body.put("done", false);
        return body;
    }

    /**
     * The whole reply, or a stream's last line (its text already sent: none here). {@code startedNanos}
     * is when the request came ({@link System#nanoTime()}), for its {@code total_duration}.
     */
    Map<String, Object> done(Kind kind, Generation generation, String thinking, String text, List<ToolCall> calls, long startedNanos) {
        Map<String, Object> body = envelope();
        put(body, kind, thinking, text, calls);
        body.put("done", true);
        // Ollama's reasons are OpenAI's finish reasons, but for a tool call, which is a "stop".
        body.put("done_reason", Replies.finishReason(generation));
        body.put("total_duration", System.nanoTime() - startedNanos);
        body.put("load_duration", 0);
        body.put("prompt_eval_count", generation.promptIds().length);
        body.put("prompt_eval_duration", Math.round(generation.promptMillis() * 1e6));
        body.put("eval_count", generation.generatedIds().length);
        body.put("eval_duration", Math.round(generation.generatedMillis() * 1e6));
        return body;
    }

    /** The reply's text where Ollama puts it, and its reasoning, when there is some, beside it ({@code thinking}). */
    private static void put(Map<String, Object> body, Kind kind, String thinking, String text, List<ToolCall> calls) {
        if (kind == Kind.GENERATE) {
            body.put("response", text);
            if (!thinking.isEmpty()) {
                body.put("thinking", thinking);
            }
            return;
        }
        Map<String, Object> message = new LinkedHashMap<>();
        message.put("role", "assistant");
        message.put("content", text);
        if (!thinking.isEmpty()) {
            message.put("thinking", thinking);
        }
        if (!calls.isEmpty()) {
            message.put("tool_calls", calls.stream().map(OllamaReplies::toolCall).toList());
        }
        body.put("message", message);
    }

    private static Map<String, Object> toolCall(ToolCall call) {
        Map<String, Object> function = new LinkedHashMap<>();
        function.put("name", call.name());
        function.put("arguments", JsonReader.parse(call.arguments()));
        return Map.of("function", function);
    }

    private Map<String, Object> envelope() {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", modelId);
        body.put("created_at", Instant.now().toString());
        return body;
    }

    /** {@code /api/tags}: the one model served. */
    Map<String, Object> tags() {
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("name", modelId);
        entry.put("model", modelId);
        entry.put("modified_at", loadedAt);
        GgufFingerprint file = model.fingerprint();
        entry.put("size", file.bytes());
        entry.put("digest", file.sha256());
        entry.put("details", details());
        return Map.of("models", List.of(entry));
    }

    /**
     * {@code /api/ps}: the one model, loaded for as long as the server runs (so no {@code expires_at},
     * which Ollama gives a model it will unload). Its size is what its placement takes in memory, weights
     * left in the mapped file included, and {@code size_vram} the part of it on GPUs; a model on the CPU
     * alone has no placement, and its size is the file's.
     */
    Map<String, Object> running() {
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("name", modelId);
        entry.put("model", modelId);
        GgufFingerprint file = model.fingerprint();
        long size = file.bytes();
        long onDevices = 0;
        if (model.plan().isPresent()) {
            MemoryNeeds needs = model.plan().get().needs();
            size = needs.mappedBytes() + needs.devices().stream().mapToLong(MemoryNeeds.Where::total).sum();
            onDevices = needs.devices().stream().filter(where -> !where.device().equals(MemoryNeeds.HOST))
                    .mapToLong(MemoryNeeds.Where::total).sum();
        }
        entry.put("size", size);
        entry.put("digest", file.sha256());
        entry.put("details", details());
        entry.put("size_vram", onDevices);
        entry.put("context_length", model.contextLength());
        return Map.of("models", List.of(entry));
    }

    /** {@code /api/version}: panllama's version, since this is panllama speaking Ollama's API. */
    static Map<String, Object> version() {
        return Map.of("version", PanllamaVersion.current());
    }

    /** {@code /api/show}: the model's details, the chat template in use and what it can do. */
    Map<String, Object> show() {
        Map<String, Object> body = new LinkedHashMap<>();
        // The Jinja template the server renders chats with (the model's own, or one it was started with); empty for a built-in format.
        body.put("template", chatFormat instanceof JinjaChatFormat jinja ? jinja.template() : "");
        body.put("details", details());
        Map<String, Object> info = new LinkedHashMap<>();
        String architecture = model.config().architecture();
        info.put("general.architecture", architecture);
        info.put(architecture + ".context_length", model.contextLength());
        info.put(architecture + ".embedding_length", model.config().dims().embedding());
        info.put(architecture + ".vocab_size", model.config().dims().vocabSize());
        body.put("model_info", info);
        body.put("capabilities", List.of("completion", "tools"));
        body.put("modified_at", loadedAt);
        return body;
    }

    private Map<String, Object> details() {
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("format", "gguf");
        details.put("family", model.config().architecture());
        details.put("families", List.of(model.config().architecture()));
        return details;
    }
}
