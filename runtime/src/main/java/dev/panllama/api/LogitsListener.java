package dev.panllama.api;

/**
 * Receives the logits of evaluated positions, in order: the prompt's last positions asked for, then
 * each generated token's, but for a token that reaches the limit, which is not evaluated.
 */
@FunctionalInterface
public interface LogitsListener {

    /** {@code logits} of the position at {@code position} in the sequence; the array is the listener's to keep. */
    void accept(long position, float[] logits);

    LogitsListener NONE = (position, logits) -> { };
}
