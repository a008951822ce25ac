package dev.panllama.model;

/**
 * Llama 4's attention temperature: NoPE layers scale their queries by
 * {@code log(floor((position + offset) / floorScale) + 1) * scale + 1}, so that attention stays sharp
 * over long contexts.
 */
public record TemperatureTuning(int floorScale, float scale, float offset) {

    /** The query scale at {@code position}. */
    public float at(long position) {
        return (float) (Math.log(Math.floor((position + offset) / floorScale) + 1.0) * scale + 1.0);
    }
}
