package dev.panllama.sampling;

import java.util.Objects;

/**
 * How many tokens a reply may reason for, as llama.cpp's {@code --reasoning-budget}: once a reasoning block
 * ({@code start} ... {@code end}) has run for {@code tokens} tokens, {@code message} (if any) and {@code end}
 * are forced, token by token, and the reply goes on to its answer. 0 ends a block as soon as it opens.
 *
 * @param generationPrompt what the chat template wrote to open the reply (the end of the prompt, such as DeepSeek
 *                         R1's {@code <｜Assistant｜><think>\n}): read first, as llama.cpp reads it, so that a block
 *                         the prompt opened is counted from there. A chat's reply fills it in
 *                         ({@code Chat.reply}).
 */
public record ReasoningBudget(int tokens, String start, String end, String message, String generationPrompt) {

    /** {@code tokens} for a {@code <think>} block, then {@code message} (or "") forced before its end; the opening left to the chat. */
    public static ReasoningBudget ofThinking(int tokens, String message) {
        return new ReasoningBudget(tokens, "<think>", "</think>", message, "");
    }

    /** Refuses a {@code --reasoning-budget} below -1, which stands for no budget. */
    public static void checkFlag(int tokens) {
        if (tokens < -1) {
            throw new IllegalArgumentException("--reasoning-budget must be -1 (unbounded), 0 or more, not " + tokens);
        }
    }

    /** This budget for a reply that the chat template opened with {@code opening}. */
    public ReasoningBudget openedWith(String opening) {
        return new ReasoningBudget(tokens, start, end, message, opening);
    }

    public ReasoningBudget {
        if (tokens < 0) {
            throw new IllegalArgumentException("a reasoning budget is 0 tokens or more, not " + tokens);
        }
        if (start.isEmpty() || end.isEmpty()) {
            throw new IllegalArgumentException("a reasoning budget needs the tags that open and close a reasoning block");
        }
        Objects.requireNonNull(message, "message");
        Objects.requireNonNull(generationPrompt, "generationPrompt");
    }
}
