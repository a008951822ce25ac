package dev.panllama.sampling;

/**
 * llama.cpp's samplers beyond top-k, top-p and min-p that narrow the candidates before the draw, each
 * off at its neutral value (llama.cpp's defaults), in the order llama.cpp applies them with the others:
 * top-n-sigma before top-k, typical after it, XTC after min-p.
 *
 * @param typicalP       locally typical sampling ({@code --typical}, {@code typical_p}): keeps the tokens whose
 *                       surprise is closest to the distribution's entropy, until they hold more than this much
 *                       probability (0 keeps one); 1 is off
 * @param topNSigma      keeps the tokens whose logit is within this many standard deviations of the largest
 *                       ({@code --top-nsigma}, {@code top_n_sigma}); 0 or less is off
 * @param xtcProbability the chance that XTC ("exclude top choices") removes, at a step, every token at or above
 *                       {@code xtcThreshold} probability but the least likely of them ({@code --xtc-probability});
 *                       0 is off
 * @param xtcThreshold   XTC's probability threshold ({@code --xtc-threshold}); above 0.5 XTC does nothing
 */
public record TokenFilters(float typicalP, float topNSigma, float xtcProbability, float xtcThreshold) {

    /** All off: llama.cpp's defaults ({@code --xtc-threshold} 0.1 while XTC is off). */
    public static final TokenFilters NONE = new TokenFilters(1f, -1f, 0f, 0.1f);

    public TokenFilters {
        if (!(typicalP >= 0 && typicalP <= 1)) {
            throw new IllegalArgumentException("--typical must be within [0, 1], not " + typicalP);
        }
        if (!Float.isFinite(topNSigma)) {
            throw new IllegalArgumentException("--top-nsigma must be a finite number, not " + topNSigma);
        }
        if (!(xtcProbability >= 0 && xtcProbability <= 1)) {
            throw new IllegalArgumentException("--xtc-probability must be within [0, 1], not " + xtcProbability);
        }
        if (!(xtcThreshold >= 0 && xtcThreshold <= 1)) {
            throw new IllegalArgumentException("--xtc-threshold must be within [0, 1], not " + xtcThreshold);
        }
    }

    boolean typical() {
        return typicalP < 1f;
    }

    boolean topNSigmaOn() {
        return topNSigma > 0f;
    }

    /** Whether XTC can remove anything: llama.cpp skips it at probability 0 or above a threshold of 0.5. */
    boolean xtc() {
        return xtcProbability > 0f && xtcThreshold <= 0.5f;
    }

    boolean any() {
        return typical() || topNSigmaOn() || xtc();
    }
}
