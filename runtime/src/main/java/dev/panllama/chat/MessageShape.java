package dev.panllama.chat;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How a chat template is given a message. Templates take OpenAI's shape (a call's arguments as an object), and
 * an earlier reply's reasoning as {@code reasoning_content}, as llama.cpp hands them over; three families that
 * llama.cpp knows by their text read the reasoning elsewhere, and get it there as llama.cpp reshapes it.
 */
enum MessageShape {

    /** OpenAI's shape, with {@code reasoning_content}. */
    OPEN_AI,
    /**
     * Mistral's Ministral 3 and Magistral family ({@code [SYSTEM_PROMPT]}, {@code [TOOL_CALLS]}, {@code [ARGS]},
     * no {@code [CALL_ID]}): a system or assistant message's content is a list of blocks, its reasoning a
     * {@code thinking} block before its text.
     */
    CONTENT_BLOCKS,
    /** OpenAI's gpt-oss ({@code <|channel|>}): the reasoning as {@code thinking}; a call's turn that reasoned has no content. */
    GPT_OSS,
    /** Liquid AI's LFM2 and LFM2.5: the reasoning as {@code thinking}. */
    LFM2;

    /** The shape {@code template} takes messages in, told by its text as llama.cpp tells it (its checks in its order). */
    static MessageShape of(String template) {
        if (template.contains("[SYSTEM_PROMPT]") && template.contains("[TOOL_CALLS]") && template.contains("[ARGS]")
                && !template.contains("[CALL_ID]")) {
            return CONTENT_BLOCKS;
        }
        if (template.contains("<|channel|>")) {
            return GPT_OSS;
        }
        boolean toolListTokens = template.contains("<|tool_list_start|>");
        if (toolListTokens && template.contains("<|tool_list_end|>") || !toolListTokens && template.contains("List of tools: [")) {
            return LFM2;
        }
        return OPEN_AI;
    }

    /** {@code message} as the template takes it. */
    Map<String, Object> turn(Message message) {
        Map<String, Object> turn = new LinkedHashMap<>();
        turn.put("role", message.role());
        turn.put("content", message.content());
        if (message.callsTools()) {
            List<Map<String, Object>> calls = new ArrayList<>();
            for (ToolCall call : message.toolCalls()) {
                Map<String, Object> function = new LinkedHashMap<>();
                function.put("name", call.name());
                function.put("arguments", new ArgumentsObject(call.argumentValues()));
                Map<String, Object> shape = new LinkedHashMap<>();
                shape.put("id", call.id());
                shape.put("type", "function");
                shape.put("function", function);
                calls.add(shape);
            }
            turn.put("tool_calls", calls);
        }
        if (message.toolCallId() != null) {
            turn.put("tool_call_id", message.toolCallId());
        }
        if (!message.reasoning().isEmpty()) {
            turn.put("reasoning_content", message.reasoning());
        }
        return switch (this) {
            case OPEN_AI -> turn;
            case CONTENT_BLOCKS -> contentBlocks(turn, message);
            case GPT_OSS -> thinkingField(turn, message, true);
            case LFM2 -> thinkingField(turn, message, false);
        };
    }

    private static Map<String, Object> contentBlocks(Map<String, Object> turn, Message message) {
        if (!message.role().equals("system") && !message.role().equals("assistant")) {
            return turn;
        }
        List<Map<String, Object>> blocks = new ArrayList<>();
        if (!message.reasoning().isEmpty()) {
            blocks.add(Map.of("type", "thinking", "thinking", message.reasoning()));
        }
        blocks.add(Map.of("type", "text", "text", message.content()));
        turn.put("content", blocks);
        turn.remove("reasoning_content");
        return turn;
    }

    /** The reasoning also as {@code thinking}; {@code callsWithoutContent}: a call's turn that reasoned loses its content. */
    private static Map<String, Object> thinkingField(Map<String, Object> turn, Message message, boolean callsWithoutContent) {
        if (!message.reasoning().isEmpty()) {
            turn.put("thinking", message.reasoning());
            if (callsWithoutContent && message.callsTools()) {
                turn.remove("content");
            }
        }
        return turn;
    }

    /**
     * A call's arguments as templates take them: an object ({@code arguments|tojson}, {@code .items()}),
     * which printed as it is ({@code {{ tool_call.arguments }}}, where a template expects OpenAI's text,
     * as functionary's do) is its JSON, as llama.cpp writes it, rather than Java's {@code {city=Paris}}.
     */
    private static final class ArgumentsObject extends LinkedHashMap<String, Object> implements PythonContainers.PythonPrinted {
        ArgumentsObject(Map<String, Object> arguments) {
            super(arguments);
        }

        @Override
        public String toString() {
            return PythonJsonFilter.dumps(this, null, ", ", ": ", false, false);
        }
    }
}
