package dev.panllama.api;

import dev.panllama.chat.ToolCall;

import java.util.List;

/**
 * The assistant's turn of a {@link Chat}: what was generated, and the tools it calls when the reply is
 * calls (then the conversation holds the calls, not the text).
 */
public record ChatReply(Generation generation, List<ToolCall> toolCalls) {

    public ChatReply {
        toolCalls = List.copyOf(toolCalls);
    }

    public boolean callsTools() {
        return !toolCalls.isEmpty();
    }
}
