package dev.panllama.placement;

/**
 * How the expert cache ranks a layer's experts from the routing it has seen, step after step (a step:
 * one micro-batch): after each, the cache holds the best-ranked experts that were used at all. Each
 * expert has a score, updated from the number of times the step chose it; ties keep the experts
 * already cached, so that the cache copies nothing for an ordering without a difference.
 */
public enum ExpertPolicy {

    /** Least recently used out: an expert's score is the last step that chose it. */
    LRU {
        @Override
        void update(double[] scores, int[] chosen, long step) {
            for (int e = 0; e < scores.length; e++) {
                if (chosen[e] > 0) {
                    scores[e] = step;
                }
            }
        }
    },

    /**
     * Least frequently used out, with decay: an expert's score is how often it was chosen, each earlier
     * step counting {@value #DECAY} times less than the one after it (a half-life of about 14 steps), so
     * that the cache follows a change of topic yet does not evict an expert used all along for one that
     * a single step happened to choose.
     */
    LFU_DECAY {
        @Override
        void update(double[] scores, int[] chosen, long step) {
            for (int e = 0; e < scores.length; e++) {
                scores[e] = scores[e] * DECAY + chosen[e];
            }
        }
    };

    /** How much of its score an expert keeps from one step to the next under {@link #LFU_DECAY}. */
    public static final double DECAY = 0.95;

    /**
     * Updates {@code scores} (per expert, 0 for an expert never chosen) after step {@code step} (from 1
     * on), in which expert e was chosen {@code chosen[e]} times.
     */
    abstract void update(double[] scores, int[] chosen, long step);

    /**
     * The score of an expert a saved profile names, before step {@code step}: as if chosen in the step
     * before under {@link #LRU}, as if chosen once in every step under {@link #LFU_DECAY}.
     */
    double warmScore(long step) {
        return this == LRU ? step : 1 / (1 - DECAY);
    }

    /** The policy {@code name} names ({@code lru}, {@code lfu-decay}), for options. */
    public static ExpertPolicy named(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "lru" -> LRU;
            case "lfu-decay", "lfu" -> LFU_DECAY;
            default -> throw new IllegalArgumentException("--expert-cache-policy must be lru or lfu-decay, not " + name);
        };
    }
}
