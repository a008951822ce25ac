package dev.panllama.eval;

import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.GraphInputs;
import dev.panllama.model.ModelConfig;
import dev.panllama.model.TemperatureTuning;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The graph inputs of a micro-batch, whose tokens may belong to several sequences: token ids,
 * positions, which rows to output, the attention temperature of NoPE layers, and per group of layers
 * (global, chunked) the cache cells the batch writes and the attention mask, which keeps each token to
 * its own sequence's cells. Declared for a {@link Shape} while the graph is built and refilled
 * for every batch of that shape (the graph is reused while the shape repeats).
 */
final class BatchInputs implements GraphInputs {

    private static final short F16_ZERO = 0;
    private static final short F16_MINUS_INFINITY = (short) 0xFC00;

    /**
     * What a graph's topology depends on: batch size, output rows and the cells attention reads.
     * Two batches of one shape run on the same graph.
     */
    record Shape(int tokens, int outputs, int globalCells, int chunkedCells) {
        /** The shape of a batch whose positions {@code cache} has just placed. */
        static Shape of(KvCache cache, boolean chunkedLayers, int tokens, int outputs) {
            return new Shape(tokens, outputs, cache.globalCells().cellsInUse(),
                    chunkedLayers ? cache.chunkedCells().cellsInUse() : 0);
        }
    }

    /** The inputs of one group of layers. */
    private record Group(KvCells cells, int cellsInUse, Tensor keyCells, Tensor valueCells, Tensor mask) {
        // keyCells, valueCells: I64 [n_tokens], the same cells (llama.cpp keeps two inputs);
        // mask: F16 [cellsInUse, n_tokens], 0 where a query may look, -inf elsewhere
    }

    final Shape shape;
    private final ModelConfig config;
    private final KvCache cache;
    private final Tensor tokens;         // I32 [n_tokens]
    private final Tensor positions;      // I32 [n_tokens]
    private final Tensor outputRows;     // I32 [n_outputs]
    private final Tensor temperature;    // F32 [1, 1, n_tokens], or null
    private final Group global;          // null without global layers
    private final Group chunked;         // null without chunked layers
    private final GgmlContext ctx;
    /**
     * Host memory the inputs are written through, sized for the largest (the masks): made at the first
     * fill and reused for every batch after it, never when a graph is only measured ({@link MemoryMeasure}
     * builds one over the whole context, whose masks could take gigabytes).
     */
    private MemorySegment staging;

    BatchInputs(GgmlContext ctx, ModelConfig config, KvCache cache, Shape shape) {
        this.ctx = ctx;
        this.shape = shape;
        this.config = config;
        this.cache = cache;
        int n = shape.tokens();
        tokens = ctx.input(ctx.newTensor(GgmlType.I32, n).name("inp_tokens"));
        positions = ctx.input(ctx.newTensor(GgmlType.I32, n).name("inp_pos"));
        outputRows = ctx.input(ctx.newTensor(GgmlType.I32, shape.outputs()).name("out_ids"));
        // Inputs only where a layer reads them: an input no op reads gets no memory, so it could not be written.
        temperature = config.temperatureTuning().isPresent() && config.plan().hasNopeLayers()
                ? ctx.input(ctx.newTensor(GgmlType.F32, 1, 1, n).name("inp_attn_scale")) : null;
        global = config.plan().hasGlobalLayers() ? group(ctx, cache.globalCells(), shape.globalCells(), n) : null;
        chunked = config.plan().hasChunkedLayers() ? group(ctx, cache.chunkedCells(), shape.chunkedCells(), n) : null;
    }

    /** The inputs of one group of layers, named as llama.cpp names them (the same names for both groups). */
    private static Group group(GgmlContext ctx, KvCells cells, int inUse, int n) {
        return new Group(cells, inUse,
                ctx.input(ctx.newTensor(GgmlType.I64, n).name("attn_inp_k_idxs")),
                ctx.input(ctx.newTensor(GgmlType.I64, n).name("attn_inp_v_idxs")),
                ctx.input(ctx.newTensor(GgmlType.F16, inUse, n).name("attn_inp_kq_mask")));
    }

    @Override
    public Tensor tokens() {
        return tokens;
    }

    @Override
    public Tensor positions() {
        return positions;
    }

    @Override
    public Tensor outputRows() {
        return outputRows;
    }

    @Override
    public Tensor temperature() {
        return temperature;
    }

    @Override
    public KvView kv(int layer) {
        Group group = config.plan().isChunked(layer) ? chunked : global;
        return new KvView(cache.keys(layer), cache.values(layer), group.keyCells(), group.valueCells(), group.mask(), group.cellsInUse());
    }

    /**
     * Writes every input for a micro-batch whose token {@code i} is {@code tokenIds[i]} at position
     * {@code positions[i]} of sequence {@code sequences[i]}, with the logits of rows {@code outputRows}
     * (ascending) wanted; the cache has placed the positions and the graph must be allocated. An input
     * the graph does not read has no memory and is skipped: a segment of the pass
     * ({@link SegmentedForward}) reads only some of them.
     */
    void fill(int[] tokenIds, int[] sequences, long[] positions, int[] outputRows) {
        int n = tokenIds.length;
        if (staging == null) {
            staging = ctx.allocateHost(Math.max(8L * shape.tokens(), 2L * Math.max(shape.globalCells(), shape.chunkedCells()) * shape.tokens()));
        }
        MemorySegment.copy(tokenIds, 0, staging, ValueLayout.JAVA_INT, 0, n);
        writeIfRead(tokens, staging.asSlice(0, 4L * n));
        int[] positionsI32 = new int[n];
        for (int i = 0; i < n; i++) {
            positionsI32[i] = Math.toIntExact(positions[i]);
        }
        MemorySegment.copy(positionsI32, 0, staging, ValueLayout.JAVA_INT, 0, n);
        writeIfRead(this.positions, staging.asSlice(0, 4L * n));
        MemorySegment.copy(outputRows, 0, staging, ValueLayout.JAVA_INT, 0, outputRows.length);
        writeIfRead(this.outputRows, staging.asSlice(0, 4L * outputRows.length));
        if (temperature != null) {
            TemperatureTuning tuning = config.temperatureTuning().orElseThrow();
            float[] scales = new float[n];
            for (int i = 0; i < n; i++) {
                scales[i] = tuning.at(positions[i]);
            }
            MemorySegment.copy(scales, 0, staging, ValueLayout.JAVA_FLOAT, 0, n);
            writeIfRead(temperature, staging.asSlice(0, 4L * n));
        }
        if (global != null) {
            fill(global, 0, sequences, positions);
        }
        if (chunked != null) {
            fill(chunked, config.plan().chunkSize(), sequences, positions);
        }
    }

    /** A group's cell indices (where the batch's keys and values go) and mask; {@code chunkSize} 0 for global attention. */
    private void fill(Group group, int chunkSize, int[] sequences, long[] positions) {
        int n = positions.length;
        int[] placed = group.cells().lastPlaced();
        long[] cellIndices = new long[n];
        for (int i = 0; i < n; i++) {
            cellIndices[i] = placed[i];
        }
        MemorySegment.copy(cellIndices, 0, staging, ValueLayout.JAVA_LONG, 0, n);
        writeIfRead(group.keyCells(), staging.asSlice(0, 8L * n));
        writeIfRead(group.valueCells(), staging.asSlice(0, 8L * n));
        if (group.mask().hasData()) {
            MemorySegment mask = staging.asSlice(0, 2L * group.cellsInUse() * n);
            writeMask(mask, group.cells(), group.cellsInUse(), chunkSize, sequences, positions);
            group.mask().write(mask);
        }
    }

    private static void writeIfRead(Tensor input, MemorySegment data) {
        if (input.hasData()) {
            input.write(data);
        }
    }

    /**
     * The F16 attention mask of queries at {@code positions[i]} of sequence {@code sequences[i]} over the
     * first {@code cellsInUse} of {@code cells}, one row per query: 0 where the cell holds a position of
     * the query's own sequence that the query may see (not after it, and with {@code chunkSize} > 0 not
     * before its chunk), -inf elsewhere.
     */
    static void writeMask(MemorySegment mask, KvCells cells, int cellsInUse, int chunkSize, int[] sequences, long[] positions) {
        short[] row = new short[cellsInUse];
        for (int i = 0; i < positions.length; i++) {
            long query = positions[i];
            long earliest = chunkSize > 0 ? query / chunkSize * chunkSize : 0;
            cells.maskRow(row, cellsInUse, sequences[i], earliest, query, F16_ZERO, F16_MINUS_INFINITY);
            MemorySegment.copy(row, 0, mask, ValueLayout.JAVA_SHORT, 2L * i * cellsInUse, cellsInUse);
        }
    }
}
