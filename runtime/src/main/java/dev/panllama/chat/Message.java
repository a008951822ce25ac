package dev.panllama.chat;

import java.util.List;
import java.util.Objects;

/**
 * One turn of a conversation: who speaks ({@code system}, {@code user}, {@code assistant}, or
 * {@code tool} for a tool's result) and what. An assistant's turn may call tools instead of, or after,
 * saying something; a tool's turn names the call it answers.
 *
 * @param toolCalls  the tools an assistant's turn calls (empty for none)
 * @param toolCallId the call a {@code tool} turn answers (null for other roles)
 * @param reasoning  what an assistant's turn reasoned before it answered ("" for nothing), given back to
 *                   templates that read it ({@code reasoning_content}, as llama.cpp names it): a reasoning
 *                   model's template often keeps it for the turns since the last user message, as in a
 *                   round of tool calls
 */
public record Message(String role, String content, List<ToolCall> toolCalls, String toolCallId, String reasoning) {

    public Message {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
        Objects.requireNonNull(reasoning, "reasoning");
        toolCalls = List.copyOf(toolCalls);
        if (role.isBlank()) {
            throw new IllegalArgumentException("a message needs a role");
        }
        if (!toolCalls.isEmpty() && !role.equals("assistant")) {
            throw new IllegalArgumentException("only the assistant calls tools, not " + role);
        }
    }

    /** A turn without reasoning. */
    public Message(String role, String content, List<ToolCall> toolCalls, String toolCallId) {
        this(role, content, toolCalls, toolCallId, "");
    }

    public Message(String role, String content) {
        this(role, content, List.of(), null);
    }

    public static Message system(String content) {
        return new Message("system", content);
    }

    public static Message user(String content) {
        return new Message("user", content);
    }

    public static Message assistant(String content) {
        return new Message("assistant", content);
    }

    /** The assistant's turn that calls {@code calls}, after saying {@code content} ("" for nothing). */
    public static Message assistant(String content, List<ToolCall> calls) {
        return new Message("assistant", content, calls, null);
    }

    /** A tool's result, answering the call {@code toolCallId}. */
    public static Message tool(String toolCallId, String content) {
        return new Message("tool", content, List.of(), Objects.requireNonNull(toolCallId, "toolCallId"));
    }

    /** This turn, having reasoned {@code text} before it ("" for nothing). */
    public Message withReasoning(String text) {
        return new Message(role, content, toolCalls, toolCallId, text);
    }

    public boolean callsTools() {
        return !toolCalls.isEmpty();
    }
}
