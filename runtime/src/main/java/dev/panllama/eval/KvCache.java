package dev.panllama.eval;

import dev.panllama.ggml.BufferType;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.Dimensions;
import dev.panllama.model.LayerPlan;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * The keys and values of every layer, each layer's in the memory of the device that layer runs on
 * (F16 by default, or a quantized type such as Q8_0 that flash attention reads directly), for one
 * sequence, and the one owner of how many positions it holds. Laid out cell for cell as llama.cpp's
 * cache lays them out with its tools' defaults ({@code swa_full} off, see {@link KvCells}): global
 * layers keep the context's cells, padded to {@value KvCells#CELL_BLOCK}; chunked layers keep
 * {@code chunk + maxBatch} cells, padded likewise, and reuse a cell once the position it holds is
 * outside every chunk a query can still look at.
 */
final class KvCache implements AutoCloseable {

    private final LayerPlan plan;
    private final List<GgmlContext> contexts = new ArrayList<>();   // one per buffer type
    private final Tensor[] keys;     // [n_head_kv * head, cells] per layer
    private final Tensor[] values;   // [n_head_kv * head, cells] per layer
    private final KvCells global;
    private final KvCells chunked;
    private final int contextLength;
    private long length;

    private final Map<String, Long> bytesByBuffer = new LinkedHashMap<>();

    KvCache(Dimensions dims, LayerPlan plan, IntFunction<BufferType> bufferOfLayer, int contextLength, int maxBatch, GgmlType type) {
        this(dims, plan, bufferOfLayer, contextLength, maxBatch, type, true);
    }

    /**
     * A cache laid out as above; without {@code memory} its tensors are only placed, for measuring what
     * the cache and the graphs over it would take ({@link GgmlContext#placeWithoutMemory}).
     */
    KvCache(Dimensions dims, LayerPlan plan, IntFunction<BufferType> bufferOfLayer, int contextLength, int maxBatch, GgmlType type,
            boolean memory) {
        this.plan = plan;
        this.contextLength = contextLength;
        int contextCells = KvCells.padded(contextLength);
        this.global = new KvCells(contextCells, 0);
        int chunkCells = plan.chunkSize() == 0 ? 1 : KvCells.padded(Math.min(contextCells, plan.chunkSize() + maxBatch));
        this.chunked = new KvCells(chunkCells, plan.chunkSize());
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

    /** The next position to fill: how many tokens the cache holds. */
    long length() {
        return length;
    }

    /** How many more tokens fit. */
    long room() {
        return contextLength - length;
    }

    /** @throws IllegalStateException when {@code count} more tokens do not fit */
    void requireRoom(int count) {
        if (count > room()) {
            throw new IllegalStateException("the context of " + contextLength + " tokens cannot take "
                    + count + " more after " + length);
        }
    }

    /**
     * Places positions {@code length .. length + count - 1}, which the next batch writes, in cells of
     * each group; {@link KvCells#lastPlaced()} says which.
     */
    void append(int count) {
        requireRoom(count);
        global.place(length, count);
        if (plan.hasChunkedLayers()) {
            chunked.place(length, count);
        }
        length += count;
    }

    /**
     * Forgets positions from {@code position} on, so the sequence continues from there (a chat turn
     * that shares its start with the last one). Returns false when a chunked layer has already reused
     * the cells of positions the kept ones' chunk needs; the caller must then start over.
     */
    boolean truncate(long position) {
        if (position < 0 || position > length) {
            throw new IllegalArgumentException("cannot keep " + position + " of " + length + " positions");
        }
        if (plan.hasChunkedLayers()) {
            long chunkStart = position / plan.chunkSize() * plan.chunkSize();
            if (position > chunkStart && chunked.minPosition() > chunkStart) {
                return false;
            }
        }
        global.removeWhere(p -> p >= position);
        chunked.removeWhere(p -> p >= position);
        length = position;
        return true;
    }

    /** Forgets everything: the next batch starts at position 0. */
    void clear() {
        global.clear();
        chunked.clear();
        length = 0;
    }

    @Override
    public void close() {
        contexts.forEach(GgmlContext::close);
    }
}
