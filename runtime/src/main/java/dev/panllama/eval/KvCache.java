package dev.panllama.eval;

import dev.panllama.ggml.BufferType;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.Dimensions;
import dev.panllama.model.LayerPlan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * The keys and values of every layer, each layer's in the memory of the device that layer runs on
 * (F16 by default, or a quantized type such as Q8_0 that flash attention reads directly), shared by
 * up to {@code sequences} sequences, and the one owner of how many positions each holds. Laid out cell
 * for cell as llama.cpp's unified cache ({@code kv_unified}) lays them out with its tools' defaults
 * ({@code swa_full} off, see {@link KvCells}): global layers keep the context's cells, padded to
 * {@value KvCells#CELL_BLOCK}, whatever the sequences; chunked layers keep
 * {@code chunk * sequences + maxBatch} cells, padded likewise (a chunk for each sequence, and room for a
 * batch), and reuse a cell once the position it holds is outside every chunk its sequence's queries can
 * still look at. The context is the sequences' together: one may grow to all of it while others are empty.
 */
final class KvCache implements AutoCloseable {

    private final LayerPlan plan;
    private final List<GgmlContext> contexts = new ArrayList<>();   // one per buffer type
    private final Tensor[] keys;     // [n_head_kv * head, cells] per layer
    private final Tensor[] values;   // [n_head_kv * head, cells] per layer
    private final KvCells global;
    private final KvCells chunked;
    private final int contextLength;
    private final long[] lengthOf;   // per sequence: the next position to fill

    private final Map<String, Long> bytesByBuffer = new LinkedHashMap<>();

    KvCache(Dimensions dims, LayerPlan plan, IntFunction<BufferType> bufferOfLayer, int contextLength, int maxBatch,
            int sequences, GgmlType type) {
        this(dims, plan, bufferOfLayer, contextLength, maxBatch, sequences, type, true);
    }

    /**
     * A cache laid out as above; without {@code memory} its tensors are only placed, for measuring what
     * the cache and the graphs over it would take ({@link GgmlContext#placeWithoutMemory}).
     */
    KvCache(Dimensions dims, LayerPlan plan, IntFunction<BufferType> bufferOfLayer, int contextLength, int maxBatch,
            int sequences, GgmlType type, boolean memory) {
        this.plan = plan;
        this.contextLength = contextLength;
        this.lengthOf = new long[sequences];
        int contextCells = KvCells.padded(contextLength);
        this.global = new KvCells(contextCells, 0, sequences);
        int chunkCells = plan.chunkSize() == 0 ? 1
                : KvCells.padded((int) Math.min(contextCells, (long) plan.chunkSize() * sequences + maxBatch));
        this.chunked = new KvCells(chunkCells, plan.chunkSize(), sequences);
        Map<BufferType, GgmlContext> byBuffer = new LinkedHashMap<>();
        try {
            keys = new Tensor[plan.count()];
            values = new Tensor[plan.count()];
            for (int i = 0; i < plan.count(); i++) {
                GgmlContext context = byBuffer.computeIfAbsent(bufferOfLayer.apply(i), b -> {
                    GgmlContext created = GgmlContext.create(2 * plan.count());
                    contexts.add(created);
                    return created;
                });
                int cells = cellsOf(i).count;
                keys[i] = context.newTensor(type, dims.kvWidth(), cells).name("cache_k_l" + i);
                values[i] = context.newTensor(type, dims.kvWidth(), cells).name("cache_v_l" + i);
            }
            // Zeroed: cells no position has reached yet are masked, but flash attention still reads
            // them, and leftover bytes of freed memory can be NaN, which masking does not cancel.
            byBuffer.forEach((buffer, context) -> bytesByBuffer.merge(buffer.name(),
                    memory ? context.allocateZeroed(buffer) : context.placeWithoutMemory(buffer, false), Long::sum));
        } catch (RuntimeException e) {
            contexts.forEach(GgmlContext::close);
            throw e;
        }
    }

    KvCells cellsOf(int layer) {
        return plan.isChunked(layer) ? chunked : global;
    }

    KvCells globalCells() {
        return global;
    }

    KvCells chunkedCells() {
        return chunked;
    }

    Tensor keys(int layer) {
        return keys[layer];
    }

    Tensor values(int layer) {
        return values[layer];
    }

    /** Bytes of keys and values in each buffer type, by the type's name. */
    Map<String, Long> bytesByBuffer() {
        return Map.copyOf(bytesByBuffer);
    }

    int contextLength() {
        return contextLength;
    }

    /** The next position of {@code sequence} to fill: how many tokens it holds. */
    long length(int sequence) {
        return lengthOf[sequence];
    }

    /** How many more tokens fit, in all sequences together. */
    long room() {
        return contextLength - global.usedCells();
    }

    /** @throws IllegalStateException when {@code count} more tokens do not fit */
    void requireRoom(long count) {
        if (count > room()) {
            throw new IllegalStateException("the context of " + contextLength + " tokens cannot take "
                    + count + " more after " + global.usedCells());
        }
    }

    /**
     * Places the next position of {@code sequenceOfToken[i]}'s sequence for each token of a micro-batch,
     * in batch order, in cells of each group ({@link KvCells#lastPlaced()} says which), and returns
     * those positions.
     */
    long[] append(int[] sequenceOfToken) {
        requireRoom(sequenceOfToken.length);
        long[] next = lengthOf.clone();   // committed once the cells are found
        long[] positions = new long[sequenceOfToken.length];
        for (int i = 0; i < positions.length; i++) {
            positions[i] = next[sequenceOfToken[i]]++;
        }
        global.place(sequenceOfToken, positions);
        if (plan.hasChunkedLayers()) {
            chunked.place(sequenceOfToken, positions);
        }
        System.arraycopy(next, 0, lengthOf, 0, next.length);
        return positions;
    }

    /**
     * Forgets the positions of {@code sequence} from {@code position} on, so it continues from there (a
     * chat turn that shares its start with the last one; 0 frees all its cells). Returns false when a
     * chunked layer has already reused the cells of positions the kept ones' chunk needs; the caller must
     * then forget the whole sequence.
     */
    boolean truncate(int sequence, long position) {
        long length = lengthOf[sequence];
        if (position < 0 || position > length) {
            throw new IllegalArgumentException("cannot keep " + position + " of " + length + " positions");
        }
        if (plan.hasChunkedLayers()) {
            long chunkStart = position / plan.chunkSize() * plan.chunkSize();
            if (position > chunkStart && chunked.minPosition(sequence) > chunkStart) {
                return false;
            }
        }
        global.removeWhere(sequence, p -> p >= position);
        chunked.removeWhere(sequence, p -> p >= position);
        lengthOf[sequence] = position;
        return true;
    }

    /**
     * Lets {@code to}, empty, share the first {@code length} positions of {@code from}: their cells, not
     * copies (llama.cpp's {@code seq_cp}), so that a common prefix such as a system prompt is kept once
     * and {@code to} continues from {@code length}. Returns false, sharing nothing, when a chunked layer
     * has already reused cells of the chunk {@code to}'s next position needs.
     */
    boolean share(int from, int to, long length) {
        if (lengthOf[to] != 0) {
            throw new IllegalStateException("sequence " + to + " must be empty to share another's positions");
        }
        if (length < 0 || length > lengthOf[from]) {
            throw new IllegalArgumentException("cannot share " + length + " of " + lengthOf[from] + " positions");
        }
        if (plan.hasChunkedLayers()) {
            long chunkStart = length / plan.chunkSize() * plan.chunkSize();
            if (length > chunkStart && chunked.minPosition(from) > chunkStart) {
                return false;
            }
            chunked.share(from, to, length);
        }
        global.share(from, to, length);
        lengthOf[to] = length;
        return true;
    }

    /** How many cells hold keys and values, however many sequences share each: the context in use. */
    int usedCells() {
        return global.usedCells();
    }

    /** Forgets every sequence: the next batch starts at position 0 and cell 0. */
    void clear() {
        global.clear();
        chunked.clear();
        Arrays.fill(lengthOf, 0);
    }

    @Override
    public void close() {
        contexts.forEach(GgmlContext::close);
    }
}
