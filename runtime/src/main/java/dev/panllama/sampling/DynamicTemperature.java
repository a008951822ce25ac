package dev.panllama.sampling;

/**
 * llama.cpp's dynamic temperature: at each step the temperature is chosen within {@code temperature ± range}
 * by the entropy of the candidates the filters left, normalized by the most they could have, to the power
 * {@code exponent}: a flat distribution is sampled hotter, a peaked one colder.
 *
 * @param range    how far the temperature may move ({@code --dynatemp-range}, {@code dynatemp_range}); 0 is off
 * @param exponent how the normalized entropy maps into the range ({@code --dynatemp-exp}, {@code dynatemp_exponent})
 */
public record DynamicTemperature(float range, float exponent) {

    /** Off, with llama.cpp's default exponent (1). */
    public static final DynamicTemperature OFF = new DynamicTemperature(0f, 1f);

    public DynamicTemperature {
        if (!(range >= 0) || Float.isInfinite(range)) {
            throw new IllegalArgumentException("--dynatemp-range must be 0 (off) or more, not " + range);
        }
        if (!Float.isFinite(exponent)) {
            throw new IllegalArgumentException("--dynatemp-exp must be a finite number, not " + exponent);
        }
    }

    public boolean on() {
        return range > 0;
    }
}
