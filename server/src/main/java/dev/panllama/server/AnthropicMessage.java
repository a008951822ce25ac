package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.chat.ToolCall;
import dev.panllama.json.JsonReader;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The replies of Anthropic's Messages API, for one served model: the {@code message} object (its content
 * blocks, a {@code text} block or a {@code tool_use} block per call, its stop reason and its token usage),
 * whole or as it starts a stream, and the blocks a stream adds. The stop reason is Anthropic's:
 * {@code end_turn}, {@code stop_sequence} (with the {@code stop_sequence} that ended the reply),
 * {@code max_tokens} (a full context too) or {@code tool_use}; {@code input_tokens} counts the prompt's
 * tokens that were evaluated, and {@code cache_read_input_tokens} those an earlier request left in the
 * cache, as Anthropic counts prompt caching.
 */
final class AnthropicMessage {

    private final String id = ResponseObject.newId("msg_");
    private final String modelId;

    AnthropicMessage(String modelId) {
        this.modelId = modelId;
    }

    /**
     * The whole message: its reasoning as a {@code thinking} block first, where it came apart, then its
     * {@code text}, or (with no text) the tool calls it makes.
     */
    Map<String, Object> whole(GenerationRun.Whole reply) {
        Generation generation = reply.generation();
        List<ToolCall> calls = reply.calls();
        Map<String, Object> message = envelope();
        List<Map<String, Object>> content = new ArrayList<>();
        if (!reply.reasoning().isEmpty()) {
            content.add(thinkingBlock(reply.reasoning()));
        }
        if (calls.isEmpty()) {
            // A reply cut off inside its reasoning has no text block, as in llama-server.
            if (!reply.text().isEmpty() || content.isEmpty()) {
                content.add(textBlock(reply.text()));
            }
        } else {
            calls.forEach(call -> content.add(toolUseBlock(call, JsonReader.parse(call.arguments()))));
        }
        message.put("content", content);
        message.put("stop_reason", stopReason(generation, calls));
        message.put("stop_sequence", stopSequence(generation));
        message.put("usage", usage(generation));
        return message;
    }

    /**
     * A {@code thinking} block: the model's reasoning, with an empty signature (a local model's reasoning has no
     * cryptographic one; llama-server writes it so).
     */
    static Map<String, Object> thinkingBlock(String thinking) {
        Map<String, Object> block = new LinkedHashMap<>();
        block.put("type", "thinking");
        block.put("thinking", thinking);
        block.put("signature", "");
        return block;
    }

    /** The message as a stream's {@code message_start} has it: no content yet, and the prompt's tokens. */
    Map<String, Object> started(int promptTokens) {
        Map<String, Object> message = envelope();
        message.put("content", List.of());
        message.put("stop_reason", null);
        message.put("stop_sequence", null);
        Map<String, Object> usage = new LinkedHashMap<>();
        usage.put("input_tokens", promptTokens);
        usage.put("cache_creation_input_tokens", 0);
        usage.put("cache_read_input_tokens", 0);
        usage.put("output_tokens", 0);
        message.put("usage", usage);
        return message;
    }

    /** A stream's {@code message_delta}: how the message stopped and the final token counts. */
    static Map<String, Object> delta(Generation generation, List<ToolCall> calls) {
        Map<String, Object> delta = new LinkedHashMap<>();
        delta.put("stop_reason", stopReason(generation, calls));
        delta.put("stop_sequence", stopSequence(generation));
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("delta", delta);
        fields.put("usage", usage(generation));
        return fields;
    }

    private Map<String, Object> envelope() {
        Map<String, Object> message = new LinkedHashMap<>();
        message.put("id", id);
        message.put("type", "message");
        message.put("role", "assistant");
        message.put("model", modelId);
        return message;
    }

    static Map<String, Object> textBlock(String text) {
        Map<String, Object> block = new LinkedHashMap<>();
        block.put("type", "text");
        block.put("text", text);
        return block;
    }

    /** A call as a {@code tool_use} block, with {@code input} (its arguments, or an empty object as a stream starts it). */
    static Map<String, Object> toolUseBlock(ToolCall call, Object input) {
        Map<String, Object> block = new LinkedHashMap<>();
        block.put("type", "tool_use");
        block.put("id", call.id());
        block.put("name", call.name());
        block.put("input", input);
        return block;
    }

    private static String stopReason(Generation generation, List<ToolCall> calls) {
        if (!calls.isEmpty()) {
            return "tool_use";
        }
        return switch (generation.stopReason()) {
            case END_OF_TURN, CANCELLED, NO_VALID_TOKEN -> "end_turn";
            case STOP_STRING -> "stop_sequence";
            case MAX_TOKENS, CONTEXT_FULL -> "max_tokens";
        };
    }

    private static String stopSequence(Generation generation) {
        return generation.stopReason() == Generation.StopReason.STOP_STRING ? generation.stopString() : null;
    }

    private static Map<String, Object> usage(Generation generation) {
        int cached = generation.promptIds().length - generation.promptTokens();
        Map<String, Object> usage = new LinkedHashMap<>();
        usage.put("input_tokens", generation.promptTokens());
        usage.put("cache_creation_input_tokens", 0);
        usage.put("cache_read_input_tokens", cached);
        usage.put("output_tokens", generation.generatedIds().length);
        return usage;
    }
}
