package dev.panllama.sampling;

/**
 * Which tokens may come next, for {@link Sampler#sample(float[], TokenConstraint)}: structured output
 * allows only tokens that keep the text a prefix of a document its schema accepts.
 */
public interface TokenConstraint {

    /** Whether {@code token} may come next. */
    boolean allows(int token);

    /**
     * Sets the logit of every token that may not come next to negative infinity.
     *
     * @return false when no token may come next
     */
    boolean mask(float[] logits);
}
