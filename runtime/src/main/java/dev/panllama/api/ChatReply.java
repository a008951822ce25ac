package dev.panllama.api;

import dev.panllama.chat.ToolCall;

import java.util.List;
import java.util.Objects;

/**
 * The assistant's turn of a {@link Chat}: what was generated, and the tools it calls when the reply is
 * calls (then the conversation holds the calls, not the text).
 *
 * @param reasoning where the reply's reasoning was asked for apart ({@link Chat#reply(dev.panllama.chat.ToolUse,
 *                  GenerationOptions, java.util.function.Consumer, java.util.function.Consumer,
 *                  java.util.function.BooleanSupplier)}) and the chat template writes reasoning blocks: the
 *                  reply's reasoning ("" for none)
 * @param text      the reply's text, its reasoning block left out where the reasoning came apart (then
 *                  {@code generation().text()} still has it)
 */
public record ChatReply(Generation generation, List<ToolCall> toolCalls, String reasoning, String text) {

    public ChatReply {
        toolCalls = List.copyOf(toolCalls);
        Objects.requireNonNull(reasoning, "reasoning");
        Objects.requireNonNull(text, "text");
    }

    public boolean callsTools() {
        return !toolCalls.isEmpty();
    }
}
