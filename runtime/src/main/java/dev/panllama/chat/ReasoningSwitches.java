package dev.panllama.chat;

import java.util.Map;

/**
 * llama.cpp's two reasoning settings, spelled in each of the names that templates read them by. Whether an
 * earlier reply's reasoning is kept ({@code preserve_reasoning}, llama.cpp's {@code --reasoning-preserve}, on
 * by default) is {@code preserve_thinking} to some templates and {@code clear_thinking},
 * {@code truncate_history_thinking} or {@code drop_thinking} (the other way round) to others; a reasoning
 * effort ({@code reasoning_effort}) is also {@code reasoning_strength}.
 */
final class ReasoningSwitches {

    static final String PRESERVE = "preserve_reasoning";
    private static final String EFFORT = "reasoning_effort";

    private ReasoningSwitches() {
    }

    /** Adds to a template's {@code context} the other names of the settings it holds, as llama.cpp gives them. */
    static void spell(Map<String, Object> context) {
        if (context.get(PRESERVE) instanceof Boolean preserve) {
            context.put("preserve_thinking", preserve);
            context.put("clear_thinking", !preserve);
            context.put("truncate_history_thinking", !preserve);
            context.put("drop_thinking", !preserve);
        }
        if (context.get(EFFORT) instanceof String effort && !effort.isEmpty()) {
            context.put("reasoning_strength", effort);
        }
    }
}
