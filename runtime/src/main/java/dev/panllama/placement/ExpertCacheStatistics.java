package dev.panllama.placement;

import java.util.Arrays;

/**
 * What the expert cache did, per cached layer: how many (token, chosen expert) pairs found their
 * expert in a slot (hits) or computed it where the layer's experts live (misses), and how many experts
 * were copied into slots (loads). Counted since the cache opened or since its last reset.
 *
 * @param layers the model's layer numbers of the cached layers, in order; the arrays follow them
 */
public record ExpertCacheStatistics(int[] layers, long[] hits, long[] misses, long[] loads) {

    public ExpertCacheStatistics {
        layers = layers.clone();
        hits = hits.clone();
        misses = misses.clone();
        loads = loads.clone();
        if (hits.length != layers.length || misses.length != layers.length || loads.length != layers.length) {
            throw new IllegalArgumentException("one count per layer");
        }
    }

    /** The share of layer {@code index}'s pairs (the {@code index}-th cached layer) that hit, 0 before any. */
    public double hitRate(int index) {
        long all = hits[index] + misses[index];
        return all == 0 ? 0 : hits[index] / (double) all;
    }

    /** The share of all cached layers' pairs that hit, 0 before any. */
    public double hitRate() {
        long hit = Arrays.stream(hits).sum();
        long all = hit + Arrays.stream(misses).sum();
        return all == 0 ? 0 : hit / (double) all;
    }

    public long totalHits() {
        return Arrays.stream(hits).sum();
    }

    public long totalMisses() {
        return Arrays.stream(misses).sum();
    }

    public long totalLoads() {
        return Arrays.stream(loads).sum();
    }

    /** What happened after {@code earlier}, a snapshot of the same cache. */
    public ExpertCacheStatistics since(ExpertCacheStatistics earlier) {
        if (!Arrays.equals(layers, earlier.layers)) {
            throw new IllegalArgumentException("statistics of another cache");
        }
        long[] h = new long[layers.length];
        long[] m = new long[layers.length];
        long[] l = new long[layers.length];
        for (int i = 0; i < layers.length; i++) {
            h[i] = hits[i] - earlier.hits[i];
            m[i] = misses[i] - earlier.misses[i];
            l[i] = loads[i] - earlier.loads[i];
        }
        return new ExpertCacheStatistics(layers, h, m, l);
    }

    /** One line per layer ({@code layer N: hit rate, hits, misses, loads}) and the total, for people. */
    public String describe() {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < layers.length; i++) {
            text.append(String.format("layer %3d: hit rate %5.1f%% (%d hits, %d misses, %d experts loaded)%n",
                    layers[i], 100 * hitRate(i), hits[i], misses[i], loads[i]));
        }
        text.append(String.format("all layers: hit rate %5.1f%% (%d hits, %d misses, %d experts loaded)",
                100 * hitRate(), totalHits(), totalMisses(), totalLoads()));
        return text.toString();
    }

    // Arrays compared by content: a record's generated equals would compare their identities.
    @Override
    public boolean equals(Object other) {
        return other instanceof ExpertCacheStatistics s && Arrays.equals(layers, s.layers) && Arrays.equals(hits, s.hits)
                && Arrays.equals(misses, s.misses) && Arrays.equals(loads, s.loads);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(hits) * 31 + Arrays.hashCode(misses);
    }

    @Override
    public String toString() {
        return describe();
    }

    // The accessors hand out copies, so that a snapshot stays what it was.
    @Override
    public int[] layers() {
        return layers.clone();
    }

    @Override
    public long[] hits() {
        return hits.clone();
    }

    @Override
    public long[] misses() {
        return misses.clone();
    }

    @Override
    public long[] loads() {
        return loads.clone();
    }
}
