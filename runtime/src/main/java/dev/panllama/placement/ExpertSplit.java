package dev.panllama.placement;

/**
 * A mixture-of-experts layer's (token, chosen expert) pairs of one step, split by where their expert
 * is: in a slot of the expert cache (hits) or only where the layer's experts live (misses). Pair p is
 * token {@code p / n_expert_used}'s choice {@code p % n_expert_used}, as the router's ids lie in memory.
 *
 * @param hitPairs    the pairs whose expert is in a slot, ascending
 * @param hitSlots    the slot of each of them
 * @param missPairs   the other pairs, ascending
 * @param missExperts the expert of each of them
 */
public record ExpertSplit(int[] hitPairs, int[] hitSlots, int[] missPairs, int[] missExperts) {

    /** How many pairs there are. */
    public int pairs() {
        return hitPairs.length + missPairs.length;
    }

    /**
     * Where each pair's output lies once the hits' outputs and then the misses' are laid one after the
     * other: what reorders them back to pair order.
     */
    public int[] order() {
        int[] order = new int[pairs()];
        for (int i = 0; i < hitPairs.length; i++) {
            order[hitPairs[i]] = i;
        }
        for (int i = 0; i < missPairs.length; i++) {
            order[missPairs[i]] = hitPairs.length + i;
        }
        return order;
    }
}
