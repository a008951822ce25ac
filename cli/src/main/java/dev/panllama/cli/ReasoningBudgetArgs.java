package dev.panllama.cli;

import dev.panllama.api.GenerationOptions;
import dev.panllama.sampling.ReasoningBudget;
import picocli.CommandLine.Option;

/** How long a reply's {@code <think>} block may run ({@code chat}, {@code serve}), as llama.cpp's {@code --reasoning-budget}. */
final class ReasoningBudgetArgs {

    @Option(names = "--reasoning-budget", paramLabel = "N",
            description = "The tokens a reply's <think> block may run before its end is forced: -1 unbounded, 0 ends it at once (default: -1).")
    int tokens = -1;

    @Option(names = "--reasoning-budget-message", paramLabel = "MESSAGE",
            description = "Text forced before the end of a <think> block whose budget is spent (default: none).")
    String message = "";

    /** {@code options} with the budget, if one is given. */
    GenerationOptions apply(GenerationOptions options) {
        ReasoningBudget.checkFlag(tokens);
        return tokens < 0 ? options : options.withReasoningBudget(ReasoningBudget.ofThinking(tokens, message));
    }
}
