package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.chat.ToolCall;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The bodies of OpenAI's replies, for one served model: chat completions and their stream chunks,
 * text completions and theirs, token usage, and the model list. Fields that OpenAI's clients expect
 * even when empty ({@code logprobs}, {@code refusal}) are there as null; a choice's {@code logprobs},
 * when the request asked for them, come from {@link LogprobsJson}.
 */
final class Replies {

    private final String modelId;
    private final long startedSeconds;

    Replies(String modelId, long startedSeconds) {
        this.modelId = modelId;
        this.startedSeconds = startedSeconds;
    }

    /**
     * A whole chat reply, a choice for each of {@code replies} (with {@code logprobs} of the same index, null
     * where not asked for): its text, or (with no text) the tool calls it makes; its reasoning where it came apart.
     */
    Map<String, Object> chatCompletion(String id, long created, List<GenerationRun.Whole> replies, List<Map<String, Object>> logprobs) {
        List<Map<String, Object>> choices = new ArrayList<>();
        for (int i = 0; i < replies.size(); i++) {
            GenerationRun.Whole reply = replies.get(i);
            List<ToolCall> calls = reply.calls();
            Map<String, Object> message = new LinkedHashMap<>();
            message.put("role", "assistant");
            message.put("content", calls.isEmpty() ? reply.text() : null);
            if (!reply.reasoning().isEmpty()) {
                message.put("reasoning_content", reply.reasoning());
            }
            message.put("refusal", null);
            if (!calls.isEmpty()) {
                message.put("tool_calls", calls.stream().map(call -> toolCall(call, -1)).toList());
            }
            Map<String, Object> choice = new LinkedHashMap<>();
            choice.put("index", i);
            choice.put("message", message);
            choice.put("logprobs", logprobs.get(i));
            choice.put("finish_reason", calls.isEmpty() ? finishReason(reply.generation()) : TOOL_CALLS);
            choices.add(choice);
        }
        Map<String, Object> body = envelope(id, "chat.completion", created, choices);
        body.put("usage", usage(replies.stream().map(GenerationRun.Whole::generation).toList(), replies.size()));
        return body;
    }

    /** A chat stream chunk of choice {@code index}: {@code delta} holds the role or a piece of content; its last has a finish reason. */
    Map<String, Object> chatChunk(String id, long created, int index, Map<String, Object> delta, Map<String, Object> logprobs,
                                  String finishReason) {
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("index", index);
        choice.put("delta", delta);
        choice.put("logprobs", logprobs);
        choice.put("finish_reason", finishReason);
        return envelope(id, "chat.completion.chunk", created, List.of(choice));
    }

    /** A chat stream's delta that makes {@code calls}, each whole, in one chunk. */
    static Map<String, Object> toolCallsDelta(List<ToolCall> calls) {
        List<Map<String, Object>> deltas = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
            deltas.add(toolCall(calls.get(i), i));
        }
        return Map.of("tool_calls", deltas);
    }

    /** A call as OpenAI writes it in a message, or in a stream's delta, which numbers it ({@code index} -1: none). */
    private static Map<String, Object> toolCall(ToolCall call, int index) {
        Map<String, Object> function = new LinkedHashMap<>();
        function.put("name", call.name());
        function.put("arguments", call.arguments());
        Map<String, Object> json = new LinkedHashMap<>();
        if (index >= 0) {
            json.put("index", index);
        }
        json.put("id", call.id());
        json.put("type", "function");
        json.put("function", function);
        return json;
    }

    /**
     * A whole text completion, a choice for each of {@code generations} (with {@code logprobs} of the same index,
     * or null), {@code choicesPerPrompt} of them made from each prompt in turn.
     */
    Map<String, Object> textCompletion(String id, long created, List<Generation> generations, List<Map<String, Object>> logprobs,
                                       int choicesPerPrompt) {
        List<Map<String, Object>> choices = new ArrayList<>();
        for (int i = 0; i < generations.size(); i++) {
            choices.add(textChoice(i, generations.get(i).text(), logprobs.get(i), finishReason(generations.get(i))));
        }
        Map<String, Object> body = envelope(id, "text_completion", created, choices);
        body.put("usage", usage(generations, choicesPerPrompt));
        return body;
    }

    /** A text stream chunk of choice {@code index}: a piece of text; its last has a finish reason. */
    Map<String, Object> textChunk(String id, long created, int index, String text, Map<String, Object> logprobs, String finishReason) {
        return envelope(id, "text_completion", created, List.of(textChoice(index, text, logprobs, finishReason)));
    }

    private static Map<String, Object> textChoice(int index, String text, Map<String, Object> logprobs, String finishReason) {
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("text", text);
        choice.put("index", index);
        choice.put("logprobs", logprobs);
        choice.put("finish_reason", finishReason);
        return choice;
    }

    /**
     * The stream's last chunk when {@code stream_options.include_usage} asks: no choices, the usage of them all,
     * {@code choicesPerPrompt} of them made from each prompt in turn.
     */
    Map<String, Object> usageChunk(String id, String object, long created, List<Generation> generations, int choicesPerPrompt) {
        Map<String, Object> body = envelope(id, object, created, List.of());
        body.put("usage", usage(generations, choicesPerPrompt));
        return body;
    }

    Map<String, Object> model() {
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("id", modelId);
        model.put("object", "model");
        model.put("created", startedSeconds);
        model.put("owned_by", "panllama");
        return model;
    }

    Map<String, Object> models() {
        Map<String, Object> list = new LinkedHashMap<>();
        list.put("object", "list");
        list.put("data", List.of(model()));
        return list;
    }

    /**
     * The tokens of {@code choices}, {@code choicesPerPrompt} of them made from each prompt in turn, as OpenAI
     * counts them: each prompt once (with the start of it that its first choice found in the cache), the
     * completions of all.
     */
    static Map<String, Object> usage(List<Generation> choices, int choicesPerPrompt) {
        long prompt = 0;
        long cached = 0;
        for (int i = 0; i < choices.size(); i += choicesPerPrompt) {
            Generation first = choices.get(i);
            prompt += first.promptIds().length;
            // The prompt's start an earlier request left in the cache, not evaluated again (OpenAI's prompt caching).
            cached += first.promptIds().length - first.promptTokens();
        }
        long completion = choices.stream().mapToLong(generation -> generation.generatedIds().length).sum();
        Map<String, Object> usage = new LinkedHashMap<>();
        usage.put("prompt_tokens", prompt);
        usage.put("completion_tokens", completion);
        usage.put("total_tokens", prompt + completion);
        usage.put("prompt_tokens_details", Map.of("cached_tokens", cached));
        return usage;
    }

    /** The finish reason of a reply that is a tool call. */
    static final String TOOL_CALLS = "tool_calls";

    /** OpenAI's finish reason: {@code stop} for an end of turn or a stop string, {@code length} for a limit. */
    static String finishReason(Generation generation) {
        return switch (generation.stopReason()) {
            case END_OF_TURN, STOP_STRING, CANCELLED, NO_VALID_TOKEN -> "stop";
            case MAX_TOKENS, CONTEXT_FULL -> "length";
        };
    }

    private Map<String, Object> envelope(String id, String object, long created, List<?> choices) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("id", id);
        body.put("object", object);
        body.put("created", created);
        body.put("model", modelId);
        body.put("system_fingerprint", null);
        body.put("choices", choices);
        return body;
    }
}
