package dev.panllama.structured;

import dev.panllama.sampling.TokenConstraint;

/** One generation's structured output as sampling sees it: which tokens may come next, and when it is done. Not thread-safe. */
public interface OutputConstraint extends TokenConstraint {

    /** Moves past {@code token}, which {@link #allows} allowed. */
    void accept(int token);

    /** Whether the output is whole and nothing may follow it, so generation is done. */
    boolean isFinished();
}
