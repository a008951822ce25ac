package dev.panllama.model;

import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The graph inputs of a micro-batch: token ids, positions, which rows to output, the attention
 * temperature of NoPE layers, and per group of layers (global, chunked) the cache cells the batch
 * writes and the attention mask. Declared for a {@link Shape} while the graph is built and refilled
 * for every batch of that shape (the graph is reused while the shape repeats).
 */
final class BatchInputs {

    private static final short F16_ZERO = 0;
    private static final short F16_MINUS_INFINITY = (short) 0xFC00;

    /**
     * What a graph's topology depends on: batch size, output rows and the cells attention reads.
     * Two batches of one shape run on the same graph.
     */
    record Shape(int tokens, int outputs, int globalCells, int chunkedCells) {
        /** The shape of a batch whose positions {@code cache} has just placed. */
        static Shape of(KvCache cache, ModelConfig config, int tokens, int outputs) {
            return new Shape(tokens, outputs, cache.globalCells().cellsInUse(),
                    config.hasChunkedLayers() ? cache.chunkedCells().cellsInUse() : 0);
        }
    }

    /** The inputs of one group of layers. */
    record Group(KvCache.Cells cells, int cellsInUse, Tensor keyCells, Tensor valueCells, Tensor mask) {
        // keyCells, valueCells: I64 [n_tokens], the same cells (llama.cpp keeps two inputs);
        // mask: F16 [cellsInUse, n_tokens], 0 where a query may look, -inf elsewhere
    }

    final Shape shape;
    final Tensor tokens;         // I32 [n_tokens]
    final Tensor positions;      // I32 [n_tokens]
    final Tensor outputRows;     // I32 [n_outputs]
    final Tensor temperature;    // F32 [1, 1, n_tokens], or null
    final Group global;
    final Group chunked;         // null without chunked layers
    private final int chunkSize;
    /** Host memory the inputs are written through, sized for the largest (the masks): no allocation per batch. */
    private final MemorySegment staging;

    BatchInputs(GgmlContext ctx, ModelConfig config, KvCache cache, Shape shape) {
        this.shape = shape;
        this.chunkSize = config.chunkSize();
        int n = shape.tokens();
        tokens = ctx.input(ctx.newTensor(GgmlType.I32, n).name("inp_tokens"));
        positions = ctx.input(ctx.newTensor(GgmlType.I32, n).name("inp_pos"));
        outputRows = ctx.input(ctx.newTensor(GgmlType.I32, shape.outputs()).name("out_ids"));
        temperature = config.temperatureTuning()
                ? ctx.input(ctx.newTensor(GgmlType.F32, 1, 1, n).name("inp_attn_scale")) : null;
        global = group(ctx, cache.globalCells(), shape.globalCells(), n);
        chunked = config.hasChunkedLayers() ? group(ctx, cache.chunkedCells(), shape.chunkedCells(), n) : null;
        long largest = Math.max(8L * n, 2L * Math.max(shape.globalCells(), shape.chunkedCells()) * n);
        staging = ctx.allocateHost(largest);
    }

    /** The inputs of one group of layers, named as llama.cpp names them (the same names for both groups). */
    private static Group group(GgmlContext ctx, KvCache.Cells cells, int inUse, int n) {
        return new Group(cells, inUse,
                ctx.input(ctx.newTensor(GgmlType.I64, n).name("attn_inp_k_idxs")),
                ctx.input(ctx.newTensor(GgmlType.I64, n).name("attn_inp_v_idxs")),
                ctx.input(ctx.newTensor(GgmlType.F16, inUse, n).name("attn_inp_kq_mask")));
    }

    Group groupOf(ModelConfig config, int layer) {
        return config.isChunked(layer) ? chunked : global;
    }

    /** Writes every input for the batch {@code tokenIds} at positions {@code start..}; the graph must be allocated. */
    void fill(ModelConfig config, long start, int[] tokenIds, int firstOutput) {
        int n = tokenIds.length;
        MemorySegment.copy(tokenIds, 0, staging, ValueLayout.JAVA_INT, 0, n);
        tokens.write(staging.asSlice(0, 4L * n));
        for (int i = 0; i < n; i++) {
            staging.setAtIndex(ValueLayout.JAVA_INT, i, Math.toIntExact(start + i));
        }
        positions.write(staging.asSlice(0, 4L * n));
        for (int i = 0; i < n - firstOutput; i++) {
            staging.setAtIndex(ValueLayout.JAVA_INT, i, firstOutput + i);
        }
        outputRows.write(staging.asSlice(0, 4L * (n - firstOutput)));
        if (temperature != null) {
            for (int i = 0; i < n; i++) {
                staging.setAtIndex(ValueLayout.JAVA_FLOAT, i, config.temperature(start + i));
            }
            temperature.write(staging.asSlice(0, 4L * n));
        }
        fill(global, false, start, n);
        if (chunked != null) {
            fill(chunked, true, start, n);
        }
    }

    private void fill(Group group, boolean isChunked, long start, int n) {
        int[] placed = group.cells().lastPlaced();
        for (int i = 0; i < n; i++) {
            staging.setAtIndex(ValueLayout.JAVA_LONG, i, placed[i]);
        }
        group.keyCells().write(staging.asSlice(0, 8L * n));
        group.valueCells().write(staging.asSlice(0, 8L * n));
        long[] held = group.cells().positionOfCell;
        MemorySegment mask = staging.asSlice(0, 2L * group.cellsInUse() * n);
        for (int i = 0; i < n; i++) {
            long query = start + i;
            long earliest = isChunked ? query / chunkSize * chunkSize : 0;
            long row = (long) i * group.cellsInUse();
            for (int c = 0; c < group.cellsInUse(); c++) {
                long key = held[c];
                boolean visible = key >= earliest && key <= query;
                mask.setAtIndex(ValueLayout.JAVA_SHORT, row + c, visible ? F16_ZERO : F16_MINUS_INFINITY);
            }
        }
        group.mask().write(mask);
    }
}
