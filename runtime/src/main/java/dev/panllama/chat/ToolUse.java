package dev.panllama.chat;

import dev.panllama.structured.JsonSchema;

import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The tools a reply may call and whether it must (OpenAI's {@code tools} and {@code tool_choice}):
 * {@link Choice#AUTO} lets the model answer or call one, {@link Choice#REQUIRED} makes it call one,
 * {@link Choice#FUNCTION} makes it call {@code function}, and {@link Choice#NONE} keeps the tools out
 * of the prompt. A call that must be made is sampled under the constraint of
 * {@link ToolCallFormat#callSchema}, so that it parses and its arguments validate (one call); those the
 * model may make are read from its reply afterwards ({@link #callsIn}), one or several.
 */
public record ToolUse(List<Tool> tools, Choice choice, String function) {

    public enum Choice { NONE, AUTO, REQUIRED, FUNCTION }

    /** No tools. */
    public static final ToolUse NONE = new ToolUse(List.of(), Choice.NONE, null);

    public ToolUse {
        tools = List.copyOf(tools);
        Objects.requireNonNull(choice, "choice");
        Set<String> names = new HashSet<>();
        for (Tool tool : tools) {
            if (!names.add(tool.name())) {
                throw new IllegalArgumentException("two tools are named '" + tool.name() + "'");
            }
        }
        if ((choice == Choice.REQUIRED || choice == Choice.FUNCTION) && tools.isEmpty()) {
            throw new IllegalArgumentException("a tool call cannot be required without tools");
        }
        if (choice == Choice.FUNCTION && !names.contains(function)) {
            throw new IllegalArgumentException("the tool to call, '" + function + "', is not one of the tools");
        }
        if (choice != Choice.FUNCTION && function != null) {
            throw new IllegalArgumentException("a function is named only with Choice.FUNCTION");
        }
    }

    public static ToolUse auto(List<Tool> tools) {
        return new ToolUse(tools, Choice.AUTO, null);
    }

    public static ToolUse required(List<Tool> tools) {
        return new ToolUse(tools, Choice.REQUIRED, null);
    }

    public static ToolUse function(List<Tool> tools, String name) {
        return new ToolUse(tools, Choice.FUNCTION, name);
    }

    /** The tools the prompt lists. */
    public List<Tool> offered() {
        return choice == Choice.NONE ? List.of() : tools;
    }

    /** Whether the reply may be a call. */
    public boolean mayCall() {
        return choice != Choice.NONE && !tools.isEmpty();
    }

    /**
     * What the reply must be, when it must be a call; null when the model may answer freely.
     *
     * @throws IllegalArgumentException when a tool's parameters use what constrained sampling does not support
     */
    public JsonSchema requiredCall() {
        return switch (choice) {
            case NONE, AUTO -> null;
            case REQUIRED, FUNCTION -> ToolCallFormat.callSchema(callable());
        };
    }

    /** The calls that {@code reply} makes (none when it is not only calls). */
    public List<ToolCall> callsIn(String reply) {
        return mayCall() ? ToolCallFormat.parse(reply, callable()) : List.of();
    }

    /** The tools a call may name: the one {@link Choice#FUNCTION} names, else all. */
    private List<Tool> callable() {
        return choice == Choice.FUNCTION ? tools.stream().filter(tool -> tool.name().equals(function)).toList() : tools;
    }

    /**
     * Whether a reply that begins with {@code textSoFar} may still turn out to be a call, so that a
     * stream holds its text back: a call is a JSON object, so only white space and text that begins
     * with its brace (after a {@link ToolCallFormat#WRAPPERS wrapper}, or a wrapper's start) may.
     */
    public boolean mayBeCall(String textSoFar) {
        String start = textSoFar.stripLeading();
        for (String[] wrapper : ToolCallFormat.WRAPPERS) {
            if (start.startsWith(wrapper[0])) {
                start = start.substring(wrapper[0].length()).stripLeading();
            } else if (wrapper[0].startsWith(start)) {
                return mayCall();
            }
        }
        return mayCall() && (start.isEmpty() || start.charAt(0) == '{');
    }
}
