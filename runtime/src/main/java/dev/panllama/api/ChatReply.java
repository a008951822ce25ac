package dev.panllama.api;

import dev.panllama.chat.ToolCall;

import java.util.Optional;

/**
 * The assistant's turn of a {@link Chat}: what was generated, and the tool it calls when the reply is
 * a call (then the conversation holds the call, not the text).
 */
public record ChatReply(Generation generation, Optional<ToolCall> toolCall) {
}
