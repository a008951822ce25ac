package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.chat.ToolCall;
import dev.panllama.sampling.SamplingOptions;

import java.security.SecureRandom;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One reply of OpenAI's Responses API: the {@code response} object, in progress (a stream's first events)
 * or finished, and the output items it holds (a message of output text, or function calls). The object
 * repeats what its request asked for, as OpenAI's does: the instructions, the token limit, the tools and
 * tool choice, the text format, the metadata, and the temperature and top-p the reply is sampled with.
 * A reply stopped by its token limit (or a full context) is {@code incomplete}, with the reason
 * {@code max_output_tokens}; nothing is stored ({@code store} is false).
 */
final class ResponseObject {

    private static final SecureRandom IDS = new SecureRandom();

    private final String id = newId("resp_");
    private final long createdAt = Instant.now().getEpochSecond();
    private final String modelId;
    private final RequestFields body;
    private final SamplingOptions sampling;

    ResponseObject(String modelId, RequestFields body, GenerationRequest request) {
        this.modelId = modelId;
        this.body = body;
        this.sampling = request.options().sampling();
    }

    /** The response while it is generated: no output yet. */
    Map<String, Object> inProgress() {
        Map<String, Object> response = envelope("in_progress", null);
        response.put("output", List.of());
        response.put("usage", null);
        return response;
    }

    /** The finished response: {@code output}'s items and the token counts of {@code generation}. */
    Map<String, Object> finished(Generation generation, List<Map<String, Object>> output) {
        boolean cut = Replies.finishReason(generation).equals("length");
        Map<String, Object> response = envelope(cut ? "incomplete" : "completed", cut ? Map.of("reason", "max_output_tokens") : null);
        response.put("output", output);
        response.put("usage", usage(generation));
        return response;
    }

    /** Whether a finished response ({@link #finished}) stopped short of its end. */
    static boolean isIncomplete(Map<String, Object> response) {
        return "incomplete".equals(response.get("status"));
    }

    private Map<String, Object> envelope(String status, Map<String, Object> incompleteDetails) {
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("id", id);
        response.put("object", "response");
        response.put("created_at", createdAt);
        response.put("status", status);
        response.put("completed_at", status.equals("in_progress") ? null : Instant.now().getEpochSecond());
        response.put("error", null);
        response.put("incomplete_details", incompleteDetails);
        response.put("instructions", body.raw("instructions"));
        response.put("max_output_tokens", body.raw("max_output_tokens"));
        response.put("model", modelId);
        response.put("parallel_tool_calls", body.bool("parallel_tool_calls", true));
        response.put("previous_response_id", null);
        Map<String, Object> reasoning = new LinkedHashMap<>();
        reasoning.put("effort", null);
        reasoning.put("summary", null);
        response.put("reasoning", reasoning);
        response.put("store", false);
        response.put("temperature", (double) sampling.temperature());
        response.put("text", body.raw("text") != null ? body.raw("text") : Map.of("format", Map.of("type", "text")));
        response.put("tool_choice", body.raw("tool_choice") != null ? body.raw("tool_choice") : "auto");
        response.put("tools", body.raw("tools") != null ? body.raw("tools") : List.of());
        response.put("top_logprobs", body.raw("top_logprobs") != null ? body.raw("top_logprobs") : 0);
        response.put("top_p", (double) sampling.topP());
        response.put("truncation", "disabled");
        response.put("user", body.raw("user"));
        response.put("metadata", body.raw("metadata") != null ? body.raw("metadata") : Map.of());
        return response;
    }

    private static Map<String, Object> usage(Generation generation) {
        Map<String, Object> usage = new LinkedHashMap<>();
        int prompt = generation.promptIds().length;
        int generated = generation.generatedIds().length;
        usage.put("input_tokens", prompt);
        // The input's start an earlier request left in the cache, not evaluated again.
        usage.put("input_tokens_details", Map.of("cached_tokens", prompt - generation.promptTokens()));
        usage.put("output_tokens", generated);
        usage.put("output_tokens_details", Map.of("reasoning_tokens", 0));
        usage.put("total_tokens", prompt + generated);
        return usage;
    }

    /** An assistant's message item holding {@code text} (with its tokens' {@code logprobs}, when asked for). */
    static Map<String, Object> message(String id, String status, List<Map<String, Object>> content) {
        Map<String, Object> item = new LinkedHashMap<>();
        item.put("id", id);
        item.put("type", "message");
        item.put("status", status);
        item.put("role", "assistant");
        item.put("content", content);
        return item;
    }

    /**
     * A reasoning item: the reply's reasoning, where it came apart from its text, as one {@code reasoning_text}
     * part (as llama-server and OpenAI's open-weight models give it; no summary).
     */
    static Map<String, Object> reasoning(String id, String status, String text) {
        Map<String, Object> item = new LinkedHashMap<>();
        item.put("id", id);
        item.put("type", "reasoning");
        item.put("status", status);
        item.put("summary", List.of());
        item.put("content", text.isEmpty() && !status.equals("completed") ? List.of() : List.of(Map.of("type", "reasoning_text", "text", text)));
        return item;
    }

    /** A message's part of output text. */
    static Map<String, Object> outputText(String text, List<Map<String, Object>> logprobs) {
        Map<String, Object> part = new LinkedHashMap<>();
        part.put("type", "output_text");
        part.put("annotations", List.of());
        part.put("logprobs", logprobs);
        part.put("text", text);
        return part;
    }

    /** A function call item: its own id ({@code fc_...}), the call's id as {@code call_id}, its name and arguments. */
    static Map<String, Object> functionCall(String id, String status, ToolCall call, String arguments) {
        Map<String, Object> item = new LinkedHashMap<>();
        item.put("id", id);
        item.put("type", "function_call");
        item.put("status", status);
        item.put("arguments", arguments);
        item.put("call_id", call.id());
        item.put("name", call.name());
        return item;
    }

    /** An id as OpenAI's look: {@code prefix} and 48 hex digits. */
    static String newId(String prefix) {
        byte[] bytes = new byte[24];
        IDS.nextBytes(bytes);
        return prefix + HexFormat.of().formatHex(bytes);
    }
}
