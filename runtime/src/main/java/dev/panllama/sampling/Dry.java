package dev.panllama.sampling;

import java.util.List;

/**
 * llama.cpp's DRY ("don't repeat yourself") sampler: a token that would extend a sequence already seen in
 * the recent context by more than {@code allowedLength} tokens has {@code multiplier * base^(length -
 * allowedLength)} taken off its logit. A sequence breaker (a text such as a newline) ends the sequences
 * it looks back over, so that formatting may repeat. It comes right after the repetition penalties.
 *
 * @param multiplier       how strong the penalty is ({@code --dry-multiplier}, {@code dry_multiplier}); 0 is off
 * @param base             how fast it grows with the length ({@code --dry-base}); below 1 is off
 * @param allowedLength    the longest repetition left alone ({@code --dry-allowed-length})
 * @param penaltyLastN     how many recent tokens it looks at ({@code --dry-penalty-last-n}); 0 is off, -1 all
 * @param sequenceBreakers the texts that end a repetition ({@code --dry-sequence-breaker}, {@code dry_sequence_breakers})
 */
public record Dry(float multiplier, float base, int allowedLength, int penaltyLastN, List<String> sequenceBreakers) {

    /** llama.cpp's default breakers: a newline, a colon, a double quote and an asterisk. */
    public static final List<String> DEFAULT_BREAKERS = List.of("\n", ":", "\"", "*");

    /** Off, with llama.cpp's defaults for the rest. */
    public static final Dry OFF = new Dry(0f, 1.75f, 2, 64, DEFAULT_BREAKERS);

    public Dry {
        if (!(multiplier >= 0) || Float.isInfinite(multiplier)) {
            throw new IllegalArgumentException("--dry-multiplier must be 0 (off) or more, not " + multiplier);
        }
        if (!Float.isFinite(base)) {
            throw new IllegalArgumentException("--dry-base must be a finite number, not " + base);
        }
        if (allowedLength < 0) {
            throw new IllegalArgumentException("--dry-allowed-length must be 0 or more, not " + allowedLength);
        }
        if (penaltyLastN < -1) {
            throw new IllegalArgumentException("--dry-penalty-last-n must be -1 (all), 0 (off) or more, not " + penaltyLastN);
        }
        sequenceBreakers = List.copyOf(sequenceBreakers);
    }

    /** Whether it can change a logit, as llama.cpp decides. */
    public boolean on() {
        return multiplier != 0f && base >= 1f && penaltyLastN != 0;
    }
}
