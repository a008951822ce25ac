package dev.panllama.model;

import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The graph inputs of one micro-batch: token ids, positions, which rows to output, the attention
 * temperature of NoPE layers, and per group of layers (global, chunked) the cache cells the batch
 * writes and the attention mask. Declared while the graph is built, filled once it is allocated.
 */
final class BatchInputs {

    private static final short F16_ZERO = 0;
    private static final short F16_MINUS_INFINITY = (short) 0xFC00;

    /** The inputs of one group of layers. */
    record Group(KvCache.Cells cells, int cellsInUse, Tensor cellIndices, Tensor mask) {
        // cellIndices: I64 [n_tokens]; mask: F16 [cellsInUse, n_tokens], 0 where a query may look, -inf elsewhere
    }

    final long start;
    final int[] tokenIds;
    final int firstOutput;
    final Tensor tokens;         // I32 [n_tokens]
    final Tensor positions;      // I32 [n_tokens]
    final Tensor outputRows;     // I32 [n_outputs]
    final Tensor temperature;    // F32 [1, 1, n_tokens], or null
    final Group global;
    final Group chunked;         // null without chunked layers
    private final int chunkSize;

    BatchInputs(GgmlContext ctx, ModelConfig config, KvCache cache, long start, int[] tokenIds, int firstOutput) {
        this.start = start;
        this.tokenIds = tokenIds;
        this.firstOutput = firstOutput;
        this.chunkSize = config.chunkSize();
        int n = tokenIds.length;
        long last = start + n - 1;
        tokens = ctx.input(ctx.newTensor(GgmlType.I32, n).name("inp_tokens"));
        positions = ctx.input(ctx.newTensor(GgmlType.I32, n).name("inp_pos"));
        outputRows = ctx.input(ctx.newTensor(GgmlType.I32, n - firstOutput).name("inp_out_ids"));
        temperature = config.temperatureTuning()
                ? ctx.input(ctx.newTensor(GgmlType.F32, 1, 1, n).name("inp_attn_scale")) : null;
        global = group(ctx, cache.globalCells(), last, n, "global");
        chunked = config.hasChunkedLayers() ? group(ctx, cache.chunkedCells(), last, n, "chunked") : null;
    }

    private static Group group(GgmlContext ctx, KvCache.Cells cells, long last, int n, String name) {
        int inUse = cells.cellsInUse(last);
        return new Group(cells, inUse,
                ctx.input(ctx.newTensor(GgmlType.I64, n).name("kv_idxs_" + name)),
                ctx.input(ctx.newTensor(GgmlType.F16, inUse, n).name("kq_mask_" + name)));
    }

    Group groupOf(ModelConfig config, int layer) {
        return config.isChunked(layer) ? chunked : global;
    }

    int outputCount() {
        return tokenIds.length - firstOutput;
    }

    /** Writes every input; the graph must be allocated. */
    void fill(ModelConfig config) {
        int n = tokenIds.length;
        tokens.write(tokenIds);
        int[] pos = new int[n];
        for (int i = 0; i < n; i++) {
            pos[i] = Math.toIntExact(start + i);
        }
        positions.write(pos);
        int[] rows = new int[n - firstOutput];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = firstOutput + i;
        }
        outputRows.write(rows);
        if (temperature != null) {
            float[] scale = new float[n];
            for (int i = 0; i < n; i++) {
                scale[i] = config.temperature(start + i);
            }
            temperature.write(scale);
        }
        fill(global, false);
        if (chunked != null) {
            fill(chunked, true);
        }
    }

    private void fill(Group group, boolean isChunked) {
        int n = tokenIds.length;
        long[] cells = new long[n];
        for (int i = 0; i < n; i++) {
            cells[i] = group.cells().cellOf(start + i);
        }
        group.cellIndices().write(cells);
        long[] held = group.cells().positionOfCell;
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment mask = scratch.allocate(ValueLayout.JAVA_SHORT, (long) group.cellsInUse() * n);
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
}
