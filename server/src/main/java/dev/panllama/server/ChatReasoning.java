package dev.panllama.server;

import dev.panllama.sampling.ReasoningBudget;

import java.util.Objects;

/**
 * What becomes of a chat reply's reasoning block where a request does not say, as llama-server's options
 * set it.
 *
 * @param apart         whether the reasoning goes apart from the answer ({@code reasoning_content}), llama.cpp's
 *                      {@code --reasoning-format deepseek} (its default) or {@code none}
 * @param budget        the tokens a reasoning block may run before its end is forced ({@code --reasoning-budget});
 *                      -1 for as long as the model reasons
 * @param budgetMessage what is forced before the end once the budget is spent ({@code --reasoning-budget-message})
 */
public record ChatReasoning(boolean apart, int budget, String budgetMessage) {

    /** llama-server's defaults: apart, unbounded. */
    public static final ChatReasoning DEFAULT = new ChatReasoning(true, -1, "");

    public ChatReasoning {
        ReasoningBudget.checkFlag(budget);
        Objects.requireNonNull(budgetMessage, "budgetMessage");
    }

    /**
     * llama.cpp's reasoning format by name: {@code deepseek} or {@code auto} (which is deepseek for the templates
     * panllama reads reasoning from) put it apart, {@code none} leaves it in the text.
     */
    public static boolean apart(String format) {
        return switch (format) {
            case "deepseek", "auto" -> true;
            case "none" -> false;
            default -> throw new IllegalArgumentException("unknown reasoning format '" + format + "'; panllama has none, deepseek and auto");
        };
    }
}
