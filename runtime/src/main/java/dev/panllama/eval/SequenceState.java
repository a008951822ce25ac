package dev.panllama.eval;

import java.util.Objects;

/**
 * What one sequence holds in a KV cache, taken out of it so that another cache (of another evaluator,
 * in another process) can continue from there without evaluating its tokens again: the tokens, where
 * each group of layers kept their positions, and every layer's key and value rows of those cells.
 * Restored into a cache where those cells are free (a fresh one, whatever its size) the positions go back
 * into the same cells, so attention adds the same keys in the same order and the logits that follow are
 * those of an uninterrupted run, bit for bit. Each row is in the type of the tier it was saved from:
 * those of cells from {@code firstHostCell[layer]} on in the host tier's types of {@code types}, the
 * others in the first tier's.
 *
 * @param tokens        the sequence's tokens, position by position
 * @param types         the types of the cache's keys and values, in each tier
 * @param width         elements of one cell's keys (or values) in one layer
 * @param chunkSize     tokens per chunk of the chunked layers, 0 when the model has none
 * @param global        the cells of the global layers
 * @param chunked       the cells of the chunked layers (none without chunked layers)
 * @param firstHostCell per layer, its first cell in the host tier where the saving cache split it between a
 *                      device and host memory, else its cell count
 * @param keys          per layer, the key rows of its group's cells, in the order of {@link CellLayout#cells}
 * @param values        per layer, the value rows likewise
 */
public record SequenceState(int[] tokens, KvCacheTypes types, long width, int chunkSize,
                            CellLayout global, CellLayout chunked, int[] firstHostCell, byte[][] keys, byte[][] values) {

    public SequenceState {
        Objects.requireNonNull(tokens);
        Objects.requireNonNull(types);
        Objects.requireNonNull(global);
        Objects.requireNonNull(chunked);
        if (keys.length != values.length || firstHostCell.length != keys.length) {
            throw new IllegalArgumentException("keys of " + keys.length + " layers, values of " + values.length
                    + " and tiers of " + firstHostCell.length);
        }
        if (global.positions().length != tokens.length) {
            throw new IllegalArgumentException("the global layers hold " + global.positions().length + " positions of "
                    + tokens.length + " tokens");
        }
    }

    public int layers() {
        return keys.length;
    }

    /**
     * Where a group of layers kept the sequence: {@code positions[i]} in cell {@code cells[i]}, oldest
     * first, in a group of {@code cellCount} cells whose next search starts at {@code head}.
     */
    public record CellLayout(int cellCount, int head, int[] cells, long[] positions) {
        public CellLayout {
            if (cells.length != positions.length) {
                throw new IllegalArgumentException(cells.length + " cells for " + positions.length + " positions");
            }
            for (int i = 0; i < cells.length; i++) {
                if (cells[i] < 0 || cells[i] >= cellCount) {
                    throw new IllegalArgumentException("cell " + cells[i] + " is outside 0.." + (cellCount - 1));
                }
                if (i > 0 && positions[i] <= positions[i - 1]) {
                    throw new IllegalArgumentException("positions must grow: " + positions[i - 1] + " then " + positions[i]);
                }
            }
            if (head < 0 || head > cellCount) {
                throw new IllegalArgumentException("head " + head + " is outside 0.." + cellCount);
            }
        }
    }
}
