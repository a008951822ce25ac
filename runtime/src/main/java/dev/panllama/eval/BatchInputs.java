package dev.panllama.eval;

import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.GraphInputs;
import dev.panllama.model.ModelConfig;
import dev.panllama.model.TemperatureTuning;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

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
     * What a graph's topology depends on: batch size, output rows, the cells attention reads and, where
     * those reach past the device tier of a group's split layers ({@link KvCache}), how many of the batch's
     * tokens go to that tier ({@code tokens} otherwise). Two batches of one shape run on the same graph.
     */
    record Shape(int tokens, int outputs, int globalCells, int chunkedCells, int globalToDevice, int chunkedToDevice) {
        /** The shape of a batch whose positions {@code cache} has just placed. */
        static Shape of(KvCache cache, boolean chunkedLayers, int tokens, int outputs) {
            KvCells global = cache.globalCells();
            KvCells chunked = cache.chunkedCells();
            return new Shape(tokens, outputs, global.cellsInUse(), chunkedLayers ? chunked.cellsInUse() : 0,
                    toDevice(cache, global, tokens), chunkedLayers ? toDevice(cache, chunked, tokens) : tokens);
        }

        /** How many of the batch's cells in {@code group} are in its split layers' device tier, where attention reads both tiers. */
        private static int toDevice(KvCache cache, KvCells group, int tokens) {
            int deviceCells = cache.deviceCells(group);
            if (group.cellsInUse() <= deviceCells) {
                return tokens;
            }
            int toDevice = 0;
            for (int cell : group.lastPlaced()) {
                toDevice += cell < deviceCells ? 1 : 0;
            }
            return toDevice;
        }
    }

    /**
     * The inputs of one group of layers. The cell indices are made when a layer first asks for them, so
     * that only those some layer writes through exist (ggml gives an input no op reads no memory).
     */
    private static final class Group {
        final KvCells cells;
        final int cellsInUse;
        final Tensor mask;               // F16 [cellsInUse, n_tokens], 0 where a query may look, -inf elsewhere
        final Tensor keyRotation;        // F32 [n, n] Walsh-Hadamard matrix of Q and K, or null (see HeadRotation)
        final Tensor valueRotation;      // F32 [n, n] of V and attention's output, or null
        final int deviceCells;           // where the host tier of the group's split layers starts
        final int toDevice;              // how many of the batch's tokens go to that device tier
        Tensor keyCells;                 // I64 [n_tokens]: each token's cell
        Tensor valueCells;               // the same cells (llama.cpp keeps two inputs)
        Tensor deviceRows;               // I32 [toDevice]: the batch rows going to the device tier, in batch order
        Tensor deviceTierCells;          // I64 [toDevice]: their cells
        Tensor hostRows;                 // I32 [n_tokens - toDevice]: the rows going to the host tier
        Tensor hostTierCells;            // I64 [n_tokens - toDevice]: their cells, counted from the tier's first

        Group(KvCells cells, int cellsInUse, Tensor mask, Tensor keyRotation, Tensor valueRotation, int deviceCells, int toDevice) {
            this.cells = cells;
            this.cellsInUse = cellsInUse;
            this.mask = mask;
            this.keyRotation = keyRotation;
            this.valueRotation = valueRotation;
            this.deviceCells = deviceCells;
            this.toDevice = toDevice;
        }
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
    private final HeadRotation rotation;
    /**
     * Host memory the inputs are written through, sized for the largest (the masks): made at the first
     * fill and reused for every batch after it, never when a graph is only measured ({@link MemoryMeasure}
     * builds one over the whole context, whose masks could take gigabytes).
     */
    private MemorySegment staging;
    /** Where the graphs of a micro-batch computed in several share their staging and masks; null for a graph of its own. */
    private final SharedInputMemory shared;

    BatchInputs(GgmlContext ctx, ModelConfig config, KvCache cache, Shape shape) {
        this(ctx, config, cache, shape, null);
    }

    /** Inputs whose staging and masks come from {@code shared} (null: their own), for one of several graphs of a micro-batch. */
    BatchInputs(GgmlContext ctx, ModelConfig config, KvCache cache, Shape shape, SharedInputMemory shared) {
        this.shared = shared;
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
        rotation = cache.rotation();
        global = config.plan().hasGlobalLayers()
                ? group(ctx, cache, cache.globalCells(), shape.globalCells(), shape.globalToDevice(), n) : null;
        chunked = config.plan().hasChunkedLayers()
                ? group(ctx, cache, cache.chunkedCells(), shape.chunkedCells(), shape.chunkedToDevice(), n) : null;
    }

    /** The inputs of one group of layers, named as llama.cpp names them (the same names for both groups). */
    private Group group(GgmlContext ctx, KvCache cache, KvCells cells, int inUse, int toDevice, int n) {
        return new Group(cells, inUse, ctx.input(ctx.newTensor(GgmlType.F16, inUse, n).name("attn_inp_kq_mask")),
                rotationInput(ctx, rotation.keySize(), "attn_inp_k_rot"), rotationInput(ctx, rotation.valueSize(), "attn_inp_v_rot"),
                cache.deviceCells(cells), toDevice);
    }

    /** A rotation matrix's input, {@code [size, size]}; null for size 0 (no rotation). */
    private static Tensor rotationInput(GgmlContext ctx, int size, String name) {
        return size == 0 ? null : ctx.input(ctx.newTensor(GgmlType.F32, size, size).name(name));
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

    /**
     * The layer's cells as one part, as llama.cpp's cache is, while the cells in use are all in its first
     * tier; else its device tier and its host tier, each written with the batch rows whose cells it holds.
     */
    @Override
    public KvView kv(int layer) {
        Group group = config.plan().isChunked(layer) ? chunked : global;
        Tensor keys = cache.keys(layer);
        Tensor values = cache.values(layer);
        Tensor hostKeys = cache.hostKeys(layer);
        if (hostKeys == null || group.cellsInUse <= cache.firstHostCell(layer)) {
            return new KvView(List.of(new KvPart(keys, values, group.cellsInUse, null, keyCells(group), valueCells(group))),
                    group.mask, group.keyRotation, group.valueRotation);
        }
        int n = shape.tokens();
        int toDevice = group.toDevice;
        KvPart device = toDevice == 0 ? new KvPart(keys, values, group.deviceCells, null, null, null)
                : toDevice == n ? new KvPart(keys, values, group.deviceCells, null, keyCells(group), valueCells(group))
                : new KvPart(keys, values, group.deviceCells, deviceRows(group), deviceTierCells(group), deviceTierCells(group));
        Tensor hostValues = cache.hostValues(layer);
        int hostCellsRead = group.cellsInUse - group.deviceCells;
        KvPart host = toDevice == n ? new KvPart(hostKeys, hostValues, hostCellsRead, null, null, null)
                : new KvPart(hostKeys, hostValues, hostCellsRead, toDevice == 0 ? null : hostRows(group),
                        hostTierCells(group), hostTierCells(group));
        return new KvView(List.of(device, host), group.mask, group.keyRotation, group.valueRotation);
    }

    private Tensor keyCells(Group group) {
        if (group.keyCells == null) {
            group.keyCells = ctx.input(ctx.newTensor(GgmlType.I64, shape.tokens()).name("attn_inp_k_idxs"));
        }
        return group.keyCells;
    }

    private Tensor valueCells(Group group) {
        if (group.valueCells == null) {
            group.valueCells = ctx.input(ctx.newTensor(GgmlType.I64, shape.tokens()).name("attn_inp_v_idxs"));
        }
        return group.valueCells;
    }

    private Tensor deviceRows(Group group) {
        if (group.deviceRows == null) {
            group.deviceRows = ctx.input(ctx.newTensor(GgmlType.I32, group.toDevice).name("attn_inp_device_rows"));
        }
        return group.deviceRows;
    }

    private Tensor deviceTierCells(Group group) {
        if (group.deviceTierCells == null) {
            group.deviceTierCells = ctx.input(ctx.newTensor(GgmlType.I64, group.toDevice).name("attn_inp_device_idxs"));
        }
        return group.deviceTierCells;
    }

    private Tensor hostRows(Group group) {
        if (group.hostRows == null) {
            group.hostRows = ctx.input(ctx.newTensor(GgmlType.I32, shape.tokens() - group.toDevice).name("attn_inp_host_rows"));
        }
        return group.hostRows;
    }

    private Tensor hostTierCells(Group group) {
        if (group.hostTierCells == null) {
            group.hostTierCells = ctx.input(ctx.newTensor(GgmlType.I64, shape.tokens() - group.toDevice).name("attn_inp_host_idxs"));
        }
        return group.hostTierCells;
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
        long rotations = 4L * Math.max(rotation.keySize() * rotation.keySize(), rotation.valueSize() * rotation.valueSize());
        long inputs = Math.max(8L * shape.tokens(), rotations);
        if (shared != null) {
            // Taken for this fill only: shared memory may move when a later micro-batch needs more.
            staging = shared.staging(inputs);
        } else if (staging == null) {
            // The masks are staged here too.
            staging = ctx.allocateHost(Math.max(inputs, 2L * Math.max(shape.globalCells(), shape.chunkedCells()) * shape.tokens()));
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
            fill(global, 0, 0, sequences, positions);
        }
        if (chunked != null) {
            fill(chunked, 1, config.plan().chunkSize(), sequences, positions);
        }
    }

    /**
     * A group's cell indices (where the batch's keys and values go: for its layers in one tier, and for
     * each tier of its split ones) and mask; {@code chunkSize} 0 for global attention.
     */
    private void fill(Group group, int groupIndex, int chunkSize, int[] sequences, long[] positions) {
        int n = positions.length;
        int[] placed = group.cells.lastPlaced();
        if (group.keyCells != null) {
            long[] cellIndices = new long[n];
            for (int i = 0; i < n; i++) {
                cellIndices[i] = placed[i];
            }
            writeLongs(cellIndices, n, group.keyCells, group.valueCells);
        }
        if (group.hostTierCells != null) {
            int[] deviceRows = new int[n];
            long[] deviceCells = new long[n];
            int[] hostRows = new int[n];
            long[] hostCells = new long[n];
            int toDevice = 0;
            int toHost = 0;
            for (int i = 0; i < n; i++) {
                if (placed[i] < group.deviceCells) {
                    deviceRows[toDevice] = i;
                    deviceCells[toDevice++] = placed[i];
                } else {
                    hostRows[toHost] = i;
                    hostCells[toHost++] = placed[i] - group.deviceCells;
                }
            }
            if (toDevice != group.toDevice) {
                throw new IllegalStateException("the batch puts " + toDevice + " tokens in the device tier, its graph " + group.toDevice);
            }
            writeLongs(hostCells, toHost, group.hostTierCells);
            if (group.hostRows != null) {
                writeInts(hostRows, toHost, group.hostRows);
                writeInts(deviceRows, toDevice, group.deviceRows);
                writeLongs(deviceCells, toDevice, group.deviceTierCells);
            }
        }
        writeRotation(group.keyRotation, rotation.keyMatrix());
        writeRotation(group.valueRotation, rotation.valueMatrix());
        if (group.mask.hasData()) {
            long bytes = 2L * group.cellsInUse * n;
            MemorySegment mask;
            if (shared != null) {
                mask = shared.mask(groupIndex, bytes, m -> writeMask(m, group.cells, group.cellsInUse, chunkSize, sequences, positions));
            } else {
                mask = staging.asSlice(0, bytes);
                writeMask(mask, group.cells, group.cellsInUse, chunkSize, sequences, positions);
            }
            group.mask.write(mask);
        }
    }

    /** A rotation matrix, written for every batch as llama.cpp writes it: it lives in compute memory that other graphs reuse. */
    private void writeRotation(Tensor input, float[] matrix) {
        if (input != null && input.hasData()) {
            MemorySegment.copy(matrix, 0, staging, ValueLayout.JAVA_FLOAT, 0, matrix.length);
            input.write(staging.asSlice(0, 4L * matrix.length));
        }
    }

    private void writeLongs(long[] values, int count, Tensor... inputs) {
        MemorySegment.copy(values, 0, staging, ValueLayout.JAVA_LONG, 0, count);
        for (Tensor input : inputs) {
            writeIfRead(input, staging.asSlice(0, 8L * count));
        }
    }

    private void writeInts(int[] values, int count, Tensor input) {
        MemorySegment.copy(values, 0, staging, ValueLayout.JAVA_INT, 0, count);
        writeIfRead(input, staging.asSlice(0, 4L * count));
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
