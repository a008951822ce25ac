package dev.panllama.eval;

import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.BufferType;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.Dimensions;
import dev.panllama.model.LayerPlan;
import dev.panllama.placement.FitOptions;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * The keys and values of every layer, each layer's in the memory of the device that layer runs on
 * (F16 by default, or a quantized type such as Q8_0 that flash attention reads directly; keys and values
 * may be of different types, see {@link KvCacheTypes}), shared by
 * up to {@code sequences} sequences, and the one owner of how many positions each holds. Laid out cell
 * for cell as llama.cpp's unified cache ({@code kv_unified}) lays them out with its tools' defaults
 * ({@code swa_full} off, see {@link KvCells}): global layers keep the context's cells, padded to
 * {@value KvCells#CELL_BLOCK}, whatever the sequences; chunked layers keep
 * {@code chunk * sequences + maxBatch} cells, padded likewise (a chunk for each sequence, and room for a
 * batch), and reuse a cell once the position it holds is outside every chunk its sequence's queries can
 * still look at. The context is the sequences' together: one may grow to all of it while others are empty.
 * <p>
 * In host memory the cells take memory as positions are written into them, not when the cache is made
 * (see {@link GgmlContext#allocateReserved()}), and {@link KvCells} grows its bookkeeping likewise, so a
 * context of millions of tokens costs what its tokens take; on a device the whole context is allocated
 * up front, as in llama.cpp.
 * <p>
 * Tiers: given a budget for the devices' share of the cache, a layer that runs on a device keeps only
 * its first cells there, as many (in blocks of {@value KvCells#CELL_BLOCK}) as the budget allows for
 * every such layer, and the rest in host memory, reserved like a host layer's. The chunked layers'
 * cells, which never grow past a chunk and a batch, get the budget first, the global layers' the rest.
 * Cells are handed out from the first on ({@link KvCells#place}), so the global layers' device tier fills
 * before their host tier takes a position (the chunked layers go round their cells); attention reads the
 * two tiers as one ({@code GraphBlocks.attention}). The host tier may be of other types than the device
 * tier ({@link KvCacheTypes#hostKeys()}, e.g. Q8_0 under F16 for half the host memory): attention then
 * converts the host tier's rows on the CPU before joining them. The budget counts the device tier at its
 * own types.
 */
final class KvCache implements AutoCloseable {

    private final LayerPlan plan;
    private final KvCacheTypes types;
    private final HeadRotation rotation;
    private final List<GgmlContext> contexts = new ArrayList<>();   // one per buffer type
    private final Tensor[] keys;     // [n_head_kv * head, cells] per layer: its cells, or the device tier of a split layer
    private final Tensor[] values;
    private final Tensor[] hostKeys;     // the host tier of a split layer (cells from firstHostCell on), else null
    private final Tensor[] hostValues;
    /** Per layer, its first cell in host memory when its cells are split between a device and the host, else its cell count. */
    private final int[] firstHostCell;
    /** Per layer, whether {@link #keys} and {@link #values} are in host memory (reserved, so given back as cells empty). */
    private final boolean[] firstTierOnHost;
    private final int globalDeviceCells;    // where a split global layer's host tier starts
    private final int chunkedDeviceCells;   // likewise for a chunked layer
    private final KvCells global;
    private final KvCells chunked;
    private final int contextLength;
    private final long[] lengthOf;   // per sequence: the next position to fill

    private final Map<String, Long> bytesByBuffer = new LinkedHashMap<>();
    private final Map<String, GgmlContext> contextByBuffer = new LinkedHashMap<>();

    /** No limit to the devices' share of the cache: a layer on a device keeps all its cells there. */
    static final long NO_DEVICE_BUDGET = FitOptions.KV_ALL;

    KvCache(Dimensions dims, LayerPlan plan, IntFunction<BufferType> bufferOfLayer, int contextLength, int maxBatch,
            int sequences, KvCacheTypes types, long deviceBudget) {
        this(dims, plan, bufferOfLayer, contextLength, maxBatch, sequences, types, deviceBudget, true);
    }

    /**
     * A cache laid out as above, whose cells on devices take at most {@code deviceBudget} bytes together
     * ({@link #NO_DEVICE_BUDGET} for all of them); without {@code memory} its tensors are only placed, for
     * measuring what the cache and the graphs over it would take ({@link GgmlContext#placeWithoutMemory}).
     */
    KvCache(Dimensions dims, LayerPlan plan, IntFunction<BufferType> bufferOfLayer, int contextLength, int maxBatch,
            int sequences, KvCacheTypes types, long deviceBudget, boolean memory) {
        if (deviceBudget < 0) {
            throw new IllegalArgumentException("the KV cache's device budget must be 0 or more bytes, not " + deviceBudget);
        }
        this.plan = plan;
        this.types = types;
        this.rotation = HeadRotation.of(types, dims.headSize());
        this.contextLength = contextLength;
        this.lengthOf = new long[sequences];
        int contextCells = KvCells.padded(contextLength);
        this.global = new KvCells(contextCells, 0, sequences);
        this.chunked = new KvCells(chunkedCellCount(plan, contextCells, maxBatch, sequences), plan.chunkSize(), sequences);
        // K and V of one cell of one layer in the device tier; the budget is shared by every layer that runs on a device.
        long cellBytes = types.cellBytes(dims.kvWidth());
        int chunkedOnDevice = 0;
        int globalOnDevice = 0;
        for (int i = 0; i < plan.count(); i++) {
            if (!bufferOfLayer.apply(i).isHost()) {
                if (plan.isChunked(i)) {
                    chunkedOnDevice++;
                } else {
                    globalOnDevice++;
                }
            }
        }
        this.chunkedDeviceCells = cellsWithin(deviceBudget, chunkedOnDevice * cellBytes, chunked.count);
        this.globalDeviceCells = cellsWithin(deviceBudget - (long) chunkedDeviceCells * chunkedOnDevice * cellBytes,
                globalOnDevice * cellBytes, global.count);
        Map<BufferType, GgmlContext> byBuffer = new LinkedHashMap<>();
        BufferType host = BackendDevice.cpu().bufferType();
        try {
            keys = new Tensor[plan.count()];
            values = new Tensor[plan.count()];
            hostKeys = new Tensor[plan.count()];
            hostValues = new Tensor[plan.count()];
            firstHostCell = new int[plan.count()];
            firstTierOnHost = new boolean[plan.count()];
            for (int i = 0; i < plan.count(); i++) {
                BufferType buffer = bufferOfLayer.apply(i);
                int cells = cellsOf(i).count;
                int onDevice = buffer.isHost() ? cells : plan.isChunked(i) ? chunkedDeviceCells : globalDeviceCells;
                firstTierOnHost[i] = (onDevice > 0 ? buffer : host).isHost();
                GgmlContext first = context(byBuffer, onDevice > 0 ? buffer : host);
                keys[i] = first.newTensor(types.keys(), dims.kvWidth(), onDevice > 0 ? onDevice : cells).name("cache_k_l" + i);
                values[i] = first.newTensor(types.values(), dims.kvWidth(), onDevice > 0 ? onDevice : cells).name("cache_v_l" + i);
                firstHostCell[i] = cells;
                if (onDevice > 0 && onDevice < cells) {
                    GgmlContext second = context(byBuffer, host);
                    hostKeys[i] = second.newTensor(types.hostKeys(), dims.kvWidth(), cells - onDevice).name("cache_k_l" + i + "_host");
                    hostValues[i] = second.newTensor(types.hostValues(), dims.kvWidth(), cells - onDevice).name("cache_v_l" + i + "_host");
                    firstHostCell[i] = onDevice;
                }
            }
            // Zeroed: cells no position has reached yet are masked, but flash attention still reads
            // them, and leftover bytes of freed memory can be NaN, which masking does not cancel. Host
            // memory is reserved rather than allocated: its fresh pages read as zeros and take memory
            // only once written, so the cache costs what the tokens in it take, whatever the context.
            byBuffer.forEach((buffer, context) -> {
                bytesByBuffer.merge(buffer.name(), !memory ? context.placeWithoutMemory(buffer, false)
                        : buffer.isHost() ? reserve(context, contextLength) : context.allocateZeroed(buffer), Long::sum);
                contextByBuffer.put(buffer.name(), context);
            });
        } catch (RuntimeException e) {
            contexts.forEach(GgmlContext::close);
            throw e;
        }
    }

    /** A chunked layer's cells: a chunk for each sequence and room for a batch, padded, at most the context's. */
    private static int chunkedCellCount(LayerPlan plan, int contextCells, int maxBatch, int sequences) {
        return plan.chunkSize() == 0 ? 1 : KvCells.padded((int) Math.min(contextCells, (long) plan.chunkSize() * sequences + maxBatch));
    }

    /**
     * The device budget that lets every layer on a device keep its first {@code tokens} cells there (all its
     * cells where it has fewer), for one sequence: what the planner gives a cache sized in tokens. The cache
     * hands a budget to the chunked layers first, so with fewer tokens than a chunked layer's cells those
     * get more and the global layers fewer; the bytes are the same.
     */
    static long deviceBytes(Dimensions dims, LayerPlan plan, IntFunction<BufferType> bufferOfLayer, int contextLength, int maxBatch,
                            KvCacheTypes types, int tokens) {
        int contextCells = KvCells.padded(contextLength);
        int chunkedCells = chunkedCellCount(plan, contextCells, maxBatch, 1);
        long cellBytes = types.cellBytes(dims.kvWidth());
        long tokenCells = KvCells.padded(Math.max(1, tokens));
        long bytes = 0;
        for (int i = 0; i < plan.count(); i++) {
            if (!bufferOfLayer.apply(i).isHost()) {
                bytes += cellBytes * Math.min(tokenCells, plan.isChunked(i) ? chunkedCells : contextCells);
            }
        }
        return bytes;
    }

    private GgmlContext context(Map<BufferType, GgmlContext> byBuffer, BufferType buffer) {
        return byBuffer.computeIfAbsent(buffer, b -> {
            GgmlContext created = GgmlContext.create(2 * plan.count());   // a layer puts K and V of one tier in a buffer
            contexts.add(created);
            return created;
        });
    }

    /** How many of {@code cells} fit {@code budget} at {@code bytesPerCell}, in whole blocks (all of them when nothing is on a device). */
    private static int cellsWithin(long budget, long bytesPerCell, int cells) {
        if (bytesPerCell == 0) {
            return cells;
        }
        return (int) Math.min(cells, budget / bytesPerCell / KvCells.CELL_BLOCK * KvCells.CELL_BLOCK);
    }

    private static long reserve(GgmlContext context, int contextLength) {
        try {
            return context.allocateReserved();
        } catch (IllegalStateException e) {
            throw new IllegalStateException("the KV cache of a context of " + contextLength
                    + " tokens cannot reserve its host memory (a smaller -c needs less): " + e.getMessage(), e);
        }
    }

    KvCells cellsOf(int layer) {
        return plan.isChunked(layer) ? chunked : global;
    }

    KvCells globalCells() {
        return global;
    }

    /** How the cache's rows are rotated before they are stored: its types decide (see {@link HeadRotation}). */
    HeadRotation rotation() {
        return rotation;
    }

    KvCells chunkedCells() {
        return chunked;
    }

    /** The layer's keys: all its cells, or a split layer's device tier (its first {@link #firstHostCell} cells). */
    Tensor keys(int layer) {
        return keys[layer];
    }

    Tensor values(int layer) {
        return values[layer];
    }

    /** A split layer's keys in host memory, its cells from {@link #firstHostCell} on; null for a layer not split. */
    Tensor hostKeys(int layer) {
        return hostKeys[layer];
    }

    Tensor hostValues(int layer) {
        return hostValues[layer];
    }

    /** The layer's first cell in host memory where its cells are split between a device and the host, else its cell count. */
    int firstHostCell(int layer) {
        return firstHostCell[layer];
    }

    /**
     * The cells a layer of {@code group} that runs on a device keeps there: where its host tier starts
     * when that is more than 0 and fewer than the group's cells, and the layer's cells are split.
     */
    int deviceCells(KvCells group) {
        return group == chunked ? chunkedDeviceCells : globalDeviceCells;
    }

    /**
     * Bytes of keys and values that take memory now: in host memory the pages written so far, which
     * grow with the tokens the cache has held; on a device all of it, allocated up front.
     */
    long committedBytes() {
        long committed = 0;
        for (GgmlContext context : contexts) {
            committed += context.committedBytes();
        }
        return committed;
    }

    /** Bytes of keys and values in each buffer type, by the type's name: for host memory, what is reserved for the whole context. */
    Map<String, Long> bytesByBuffer() {
        return Map.copyOf(bytesByBuffer);
    }

    /** {@link #committedBytes()} by buffer type name: a device's tier whole, the host's pages written so far. */
    Map<String, Long> committedBytesByBuffer() {
        Map<String, Long> committed = new LinkedHashMap<>();
        contextByBuffer.forEach((buffer, context) -> committed.put(buffer, context.committedBytes()));
        return committed;
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
        releaseUnused();
        return true;
    }

    /**
     * Gives back the host memory of the cells past the last one in use, in every layer: a conversation
     * that shrinks (a reset, a shorter prompt kept) costs what its tokens take again, not the most it
     * ever took. Cells past the last in use are masked, and read as zeros once given back.
     */
    private void releaseUnused() {
        GgmlContext host = contextByBuffer.get(BackendDevice.cpu().bufferType().name());
        // Asked once per group of layers (they share their cells), and asked even without host memory, so that it starts afresh.
        int[] writtenEnd = {global.takeWrittenEnd(), chunked.takeWrittenEnd()};
        if (host == null) {
            return;
        }
        for (int i = 0; i < plan.count(); i++) {
            int used = cellsOf(i).usedEnd();
            int written = writtenEnd[plan.isChunked(i) ? 1 : 0];
            if (written <= used) {
                continue;
            }
            if (firstTierOnHost[i]) {
                host.releaseRows(keys[i], used, written);
                host.releaseRows(values[i], used, written);
            } else if (hostKeys[i] != null && written > firstHostCell[i]) {
                int first = Math.max(0, used - firstHostCell[i]);
                host.releaseRows(hostKeys[i], first, written - firstHostCell[i]);
                host.releaseRows(hostValues[i], first, written - firstHostCell[i]);
            }
        }
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

    /**
     * What {@code sequence} holds, with its {@code tokens}: its cells and every layer's key and value rows in
     * them, each row in the type of the tier it is in.
     */
    SequenceState save(int sequence, int[] tokens) {
        SequenceState.CellLayout globalLayout = layoutOf(global, sequence);
        SequenceState.CellLayout chunkedLayout = layoutOf(chunked, sequence);
        byte[][] keyRows = new byte[plan.count()][];
        byte[][] valueRows = new byte[plan.count()][];
        for (int layer = 0; layer < plan.count(); layer++) {
            int[] cells = (plan.isChunked(layer) ? chunkedLayout : globalLayout).cells();
            keyRows[layer] = readRows(keys[layer], hostKeys[layer], firstHostCell[layer], cells);
            valueRows[layer] = readRows(values[layer], hostValues[layer], firstHostCell[layer], cells);
        }
        return new SequenceState(tokens, types, keys[0].ne(0), plan.chunkSize(), globalLayout, chunkedLayout,
                firstHostCell.clone(), keyRows, valueRows);
    }

    private static SequenceState.CellLayout layoutOf(KvCells cells, int sequence) {
        int[] held = cells.cellsOf(sequence);
        long[] positions = new long[held.length];
        for (int i = 0; i < held.length; i++) {
            positions[i] = cells.positionIn(held[i]);
        }
        return new SequenceState.CellLayout(cells.count, cells.head(), held, positions);
    }

    /**
     * Gives the empty {@code sequence} what {@code state} holds. Where this cache has the saved cells and
     * they are free, the positions go back into the same cells, and the logits that follow are the
     * uninterrupted run's; otherwise into the first free cells, in order, where attention adds the same
     * keys in another order (a chunked group too small for all the saved positions keeps the newest, as
     * long as they cover the chunk the next position looks at).
     *
     * @throws IllegalArgumentException when the state does not fit this cache: other types, shape or
     *                                  chunk size, rows that would land in a tier of another type than the one
     *                                  they were saved from, or more tokens than there is room for
     */
    void restore(int sequence, SequenceState state) {
        if (lengthOf[sequence] != 0) {
            throw new IllegalStateException("sequence " + sequence + " is not empty");
        }
        if (!state.types().equals(types)) {
            throw new IllegalArgumentException("its KV cache is " + state.types() + ", this one is " + types
                    + " (" + state.types().options() + " restores it)");
        }
        if (state.layers() != plan.count() || state.width() != keys[0].ne(0) || state.chunkSize() != plan.chunkSize()) {
            throw new IllegalArgumentException("its KV cache has " + state.layers() + " layers of " + state.width()
                    + "-element rows and chunks of " + state.chunkSize() + ", this model's has " + plan.count() + " of "
                    + keys[0].ne(0) + " and chunks of " + plan.chunkSize());
        }
        int length = state.tokens().length;
        long[] globalPositions = state.global().positions();
        for (int i = 0; i < length; i++) {
            if (globalPositions[i] != i) {
                throw new IllegalArgumentException("its global layers do not hold positions 0.." + (length - 1));
            }
        }
        if (length > room()) {
            throw new IllegalArgumentException("it holds " + length + " tokens, more than the " + room()
                    + " this context of " + contextLength + " has room for");
        }
        SequenceState.CellLayout chunkedSaved = state.chunked();
        // The chunked layers must keep the start of the chunk the next position attends to.
        long chunkStart = plan.hasChunkedLayers() ? length / plan.chunkSize() * plan.chunkSize() : 0;
        if (plan.hasChunkedLayers()) {
            long[] saved = chunkedSaved.positions();
            if (length > 0 && (saved.length == 0 || saved[saved.length - 1] != length - 1 || saved[0] > chunkStart)) {
                throw new IllegalArgumentException("its chunked layers do not hold the positions the next token attends to");
            }
        }
        for (int layer = 0; layer < plan.count(); layer++) {
            int[] savedCells = (plan.isChunked(layer) ? chunkedSaved : state.global()).cells();
            int savedFirstHostCell = state.firstHostCell()[layer];
            if (state.keys()[layer].length != rowsBytes(savedCells, savedFirstHostCell, types.keys(), types.hostKeys(), keys[0].ne(0))
                    || state.values()[layer].length != rowsBytes(savedCells, savedFirstHostCell, types.values(), types.hostValues(),
                    keys[0].ne(0))) {
                throw new IllegalArgumentException("its layer " + layer + " has rows of other sizes than its cells take");
            }
        }
        Placement globalPlacement = placement(global, state.global());
        if (globalPlacement.cells().length < length) {
            throw new IllegalArgumentException("this cache has too few free cells for its " + length + " tokens");
        }
        Placement chunkedPlacement = plan.hasChunkedLayers() ? placement(chunked, chunkedSaved) : Placement.NONE;
        int chunkedKept = chunkedPlacement.cells().length;
        if (plan.hasChunkedLayers() && length > 0 && (chunkedKept == 0
                || chunkedSaved.positions()[chunkedSaved.positions().length - chunkedKept] > chunkStart)) {
            throw new IllegalArgumentException("this cache's chunked layers have too few free cells for the chunk it holds");
        }
        if (types.hostTierDiffers()) {
            for (int layer = 0; layer < plan.count(); layer++) {
                boolean chunkedLayer = plan.isChunked(layer);
                requireSameTiers(layer, (chunkedLayer ? chunkedSaved : state.global()).cells(), state.firstHostCell()[layer],
                        (chunkedLayer ? chunkedPlacement : globalPlacement).cells());
            }
        }
        for (int layer = 0; layer < plan.count(); layer++) {
            boolean chunkedLayer = plan.isChunked(layer);
            Placement placement = chunkedLayer ? chunkedPlacement : globalPlacement;
            int[] savedCells = (chunkedLayer ? chunkedSaved : state.global()).cells();
            int savedFirstHostCell = state.firstHostCell()[layer];
            writeRows(keys[layer], hostKeys[layer], firstHostCell[layer], placement.cells(), state.keys()[layer], savedCells,
                    savedFirstHostCell, types.keys(), types.hostKeys());
            writeRows(values[layer], hostValues[layer], firstHostCell[layer], placement.cells(), state.values()[layer], savedCells,
                    savedFirstHostCell, types.values(), types.hostValues());
        }
        global.restore(sequence, globalPlacement.cells(), lastOf(state.global().positions(), globalPlacement.cells().length),
                globalPlacement.head());
        if (plan.hasChunkedLayers()) {
            chunked.restore(sequence, chunkedPlacement.cells(), lastOf(chunkedSaved.positions(), chunkedPlacement.cells().length),
                    chunkedPlacement.head());
        }
        lengthOf[sequence] = length;
    }

    /**
     * The cells a saved group's positions go to here, the same ones where this group has them and they
     * are free, else the first free ones (the newest positions when there are fewer), and the head
     * after them.
     */
    private record Placement(int[] cells, int head) {
        static final Placement NONE = new Placement(new int[0], 0);
    }

    private static Placement placement(KvCells cells, SequenceState.CellLayout saved) {
        // Cells past those in use are masked and skipped, so the same cells in a larger group add the same keys in the same order.
        if (saved.head() <= cells.count && cells.areFree(saved.cells())) {
            return new Placement(saved.cells(), saved.head());
        }
        int[] free = cells.firstFree(saved.cells().length);
        return new Placement(free, free.length == 0 ? cells.head() : free[free.length - 1] + 1);
    }

    private static long[] lastOf(long[] positions, int count) {
        return Arrays.copyOfRange(positions, positions.length - count, positions.length);
    }

    /**
     * Refuses a restore that would put a row saved from one tier into a cell of the other: with a host
     * tier of other types the row would not be of the type of the tensor it lands in. Where the tiers
     * start is {@code --kv-device-memory}'s choice, so the same budget restores the rows into the same tiers.
     */
    private void requireSameTiers(int layer, int[] savedCells, int savedFirstHostCell, int[] cells) {
        int skipped = savedCells.length - cells.length;
        for (int i = 0; i < cells.length; i++) {
            boolean savedInHost = savedCells[skipped + i] >= savedFirstHostCell;
            if (savedInHost != cells[i] >= firstHostCell[layer]) {
                throw new IllegalArgumentException("its rows of layer " + layer + " were saved from a " + (savedInHost ? "host" : "device")
                        + " tier (its device tier held " + savedFirstHostCell + " cells) and would land in this cache's "
                        + (savedInHost ? "device" : "host") + " tier (of " + firstHostCell[layer] + " cells), of another type: "
                        + "the --kv-device-memory it was saved with restores it");
            }
        }
    }

    /** Bytes of the rows of {@code cells} of {@code width} elements: of {@code type} before {@code firstHostCell}, else of {@code hostType}. */
    private static long rowsBytes(int[] cells, int firstHostCell, GgmlType type, GgmlType hostType, long width) {
        long bytes = 0;
        for (int cell : cells) {
            bytes += (cell < firstHostCell ? type : hostType).rowBytes(width);
        }
        return bytes;
    }

    /**
     * The rows of {@code cells}, one after another, read a run of neighbouring cells of one tier at a time:
     * cells before {@code firstHostCell} from {@code tensor}, the rest from {@code hostTensor}, each in its
     * tensor's type.
     */
    private static byte[] readRows(Tensor tensor, Tensor hostTensor, int firstHostCell, int[] cells) {
        long bytes = rowsBytes(cells, firstHostCell, tensor.type(), hostTensor == null ? tensor.type() : hostTensor.type(), tensor.ne(0));
        if (bytes > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("cannot save " + cells.length + " cells: a layer's keys or values would take "
                    + bytes + " bytes, past the 2 GiB a saved sequence holds per layer");
        }
        byte[] rows = new byte[(int) bytes];
        int offset = 0;
        for (int from = 0; from < cells.length; ) {
            int to = endOfRun(cells, from, firstHostCell);
            boolean host = cells[from] >= firstHostCell;
            Tensor source = host ? hostTensor : tensor;
            long cell = host ? cells[from] - firstHostCell : cells[from];
            byte[] run = source.readBytes(cell * source.nb(1), Math.toIntExact((to - from) * source.nb(1)));
            System.arraycopy(run, 0, rows, offset, run.length);
            offset += run.length;
            from = to;
        }
        return rows;
    }

    /**
     * Writes the last {@code cells.length} of the rows in {@code rows}, saved from {@code savedCells} (those
     * from {@code savedFirstHostCell} on from the host tier, of {@code savedHostType}, the others of
     * {@code savedType}), into {@code cells} (those from {@code firstHostCell} on in {@code hostTensor}).
     * Each row lands in a tier of the type it was saved in ({@link #requireSameTiers}, or tiers of one type).
     */
    private static void writeRows(Tensor tensor, Tensor hostTensor, int firstHostCell, int[] cells, byte[] rows,
                                  int[] savedCells, int savedFirstHostCell, GgmlType savedType, GgmlType savedHostType) {
        int skipped = savedCells.length - cells.length;
        long offset = rowsBytes(Arrays.copyOf(savedCells, skipped), savedFirstHostCell, savedType, savedHostType, tensor.ne(0));
        for (int from = 0; from < cells.length; ) {
            int to = endOfRun(cells, from, firstHostCell);
            boolean host = cells[from] >= firstHostCell;
            Tensor target = host ? hostTensor : tensor;
            long cell = host ? cells[from] - firstHostCell : cells[from];
            int bytes = Math.toIntExact((to - from) * target.nb(1));
            target.writeBytes(cell * target.nb(1), Arrays.copyOfRange(rows, Math.toIntExact(offset), Math.toIntExact(offset + bytes)));
            offset += bytes;
            from = to;
        }
    }

    /** One past the last index of the run of consecutive cells of one tier that starts at {@code from}. */
    private static int endOfRun(int[] cells, int from, int firstHostCell) {
        int to = from + 1;
        while (to < cells.length && cells[to] == cells[to - 1] + 1 && cells[to] != firstHostCell) {
            to++;
        }
        return to;
    }

    /** Forgets every sequence: the next batch starts at position 0 and cell 0. */
    void clear() {
        global.clear();
        chunked.clear();
        Arrays.fill(lengthOf, 0);
        releaseUnused();
    }

    @Override
    public void close() {
        contexts.forEach(GgmlContext::close);
    }
}
