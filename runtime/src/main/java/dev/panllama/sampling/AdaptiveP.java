package dev.panllama.sampling;

/**
 * llama.cpp's adaptive-p sampler, which draws in place of the plain draw where the sampler order names it
 * ({@code adaptive_p}, letter {@code a}, in {@link SamplerOrder}; wherever it stands, it comes last): it
 * favours tokens whose probability is near a target, which it moves each step by how probable the tokens
 * taken lately were (an exponential moving average), so that over a reply the tokens taken average about
 * the target.
 *
 * @param target the probability to select near ({@code --adaptive-target}, {@code adaptive_target}); negative
 *               draws as the plain draw does, above 1 counts as 1
 * @param decay  how much of the average each step keeps ({@code --adaptive-decay}, {@code adaptive_decay}):
 *               about {@code 1 / (1 - decay)} tokens count; as llama.cpp, taken within [0, 0.99]
 */
public record AdaptiveP(float target, float decay) {

    /** llama.cpp's defaults: no target (the plain draw), decay 0.9. */
    public static final AdaptiveP OFF = new AdaptiveP(-1f, 0.9f);

    public AdaptiveP {
        if (!Float.isFinite(target)) {
            throw new IllegalArgumentException("--adaptive-target must be a finite number, not " + target);
        }
        if (!Float.isFinite(decay)) {
            throw new IllegalArgumentException("--adaptive-decay must be a finite number, not " + decay);
        }
        decay = Math.clamp(decay, 0f, 0.99f);
    }

    /** Whether it moves the draw toward a target; without one it draws as the plain draw. */
    boolean targets() {
        return target >= 0;
    }
}
