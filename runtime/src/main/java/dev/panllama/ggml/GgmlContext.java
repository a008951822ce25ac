package dev.panllama.ggml;

import dev.panllama.bindings.NativeLibraries;
import dev.panllama.bindings.ReservedMemory;
import dev.panllama.bindings.ggml.Ggml;
import dev.panllama.bindings.ggml.ggml_init_params;
import dev.panllama.bindings.ggml.ggml_tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A ggml context: the arena in which tensors and graphs are described. It holds only their metadata
 * ({@code no_alloc}); their data lives in a backend buffer that {@link #allocate(Backend)} makes and
 * this context owns. Closing it frees both, after which every tensor and graph made here refuses use
 * with an {@link IllegalStateException}.
 *
 * <p>Every operation checks its operands' shapes, and the context its remaining room, before calling
 * ggml, which would otherwise abort the process on a failed assertion. A context may be used by one
 * thread at a time.
 */
public final class GgmlContext implements AutoCloseable {

    private final Arena arena;
    private final MemorySegment handle;
    private final int maxTensors;
    private int tensors;
    private boolean graphMade;
    private long allocatedBytes;
    /** Host memory reserved for this context's tensors, unmapped when it closes. */
    private final List<ReservedMemory> reservations = new ArrayList<>();

    private GgmlContext(Arena arena, MemorySegment handle, int maxTensors) {
        this.arena = arena;
        this.handle = handle;
        this.maxTensors = maxTensors;
    }

    /**
     * A context with room for {@code maxTensors} tensors (inputs and results of operations alike) and
     * one graph over them. The graph has a node for each tensor, so it can never overflow.
     */
    public static GgmlContext create(int maxTensors) {
        if (maxTensors < 1) {
            throw new IllegalArgumentException("a context needs room for at least one tensor");
        }
        NativeLibraries.load();
        long size = maxTensors * Ggml.ggml_tensor_overhead() + Ggml.ggml_graph_overhead_custom(maxTensors, false);
        Arena arena = NativeResources.openArena();
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment params = ggml_init_params.allocate(scratch);
            ggml_init_params.mem_size(params, size);
            ggml_init_params.mem_buffer(params, MemorySegment.NULL);
            ggml_init_params.no_alloc(params, true);
            MemorySegment raw = Ggml.ggml_init(params);
            if (raw.equals(MemorySegment.NULL)) {
                NativeResources.close(arena);
                throw new OutOfMemoryError("ggml_init could not reserve " + size + " bytes");
            }
            return new GgmlContext(arena, raw.reinterpret(arena, Ggml::ggml_free), maxTensors);
        }
    }

    MemorySegment handle() {
        return handle;
    }

    Arena arena() {
        return arena;
    }

    /** A new tensor of {@code type} and shape {@code ne} (innermost dimension first, 1 to 4 of them). */
    public Tensor newTensor(GgmlType type, long... ne) {
        if (ne.length < 1 || ne.length > 4) {
            throw new IllegalArgumentException("a tensor has 1 to 4 dimensions, not " + ne.length);
        }
        for (long n : ne) {
            if (n < 1) {
                throw new IllegalArgumentException("tensor dimensions must be positive: " + Arrays.toString(ne));
            }
        }
        type.rowBytes(ne[0]);
        int id = type.id();
        return op("new tensor", () -> switch (ne.length) {
            case 1 -> Ggml.ggml_new_tensor_1d(handle, id, ne[0]);
            case 2 -> Ggml.ggml_new_tensor_2d(handle, id, ne[0], ne[1]);
            case 3 -> Ggml.ggml_new_tensor_3d(handle, id, ne[0], ne[1], ne[2]);
            default -> Ggml.ggml_new_tensor_4d(handle, id, ne[0], ne[1], ne[2], ne[3]);
        });
    }

    /**
     * The matrix product {@code a · bᵀ} row by row, as ggml defines it: F32 {@code [a.ne1, b.ne1, b.ne2, b.ne3]}
     * from {@code a [k, m, ...]} (any type) and {@code b [k, n, ...]}, with a's batch dimensions broadcast.
     */
    public Tensor mulMat(Tensor a, Tensor b) {
        own(a, b);
        if (a.ne(0) != b.ne(0) || b.ne(2) % a.ne(2) != 0 || b.ne(3) % a.ne(3) != 0) {
            throw new IllegalArgumentException("mulMat needs a [k, m, p, q] and b [k, n, p*i, q*j], got a "
                    + a.shapeString() + " and b " + b.shapeString());
        }
        if (a.isTransposed()) {
            throw new IllegalArgumentException("mulMat cannot take a transposed a: " + a.shapeString());
        }
        return op("mulMat", () -> Ggml.ggml_mul_mat(handle, a.handle(), b.handle()));
    }

    /**
     * {@link #mulMat} of {@code rotation}, an orthonormal Walsh-Hadamard matrix {@code [n, n]}, and
     * {@code b [n, ...]}, marked as such: backends that can (the CPU, CUDA) then compute it as a fast
     * Walsh-Hadamard transform instead of a matrix product, as they do for llama.cpp's.
     */
    public Tensor mulMatHadamard(Tensor rotation, Tensor b) {
        if (rotation.ne(0) != rotation.ne(1) || rotation.type() != GgmlType.F32) {
            throw new IllegalArgumentException("a Walsh-Hadamard rotation is F32 [n, n], not " + rotation.type() + " " + rotation.shapeString());
        }
        Tensor product = mulMat(rotation, b);
        Ggml.ggml_mul_mat_set_hint(product.handle(), Ggml.GGML_HINT_SRC0_IS_HADAMARD());
        return product;
    }

    /** {@code a + b}, b broadcast over a (each of a's dimensions a multiple of b's). */
    public Tensor add(Tensor a, Tensor b) {
        checkBroadcast("add", a, b);
        return op("add", () -> Ggml.ggml_add(handle, a.handle(), b.handle()));
    }

    /** {@code a * b} element-wise, b broadcast over a. */
    public Tensor mul(Tensor a, Tensor b) {
        checkBroadcast("mul", a, b);
        return op("mul", () -> Ggml.ggml_mul(handle, a.handle(), b.handle()));
    }

    /** {@code a / b} element-wise, b broadcast over a. */
    public Tensor div(Tensor a, Tensor b) {
        checkBroadcast("div", a, b);
        return op("div", () -> Ggml.ggml_div(handle, a.handle(), b.handle()));
    }

    /** Softmax along the innermost dimension. */
    public Tensor softMax(Tensor a) {
        own(a);
        return op("softMax", () -> Ggml.ggml_soft_max(handle, a.handle()));
    }

    /** {@code x / sqrt(mean(x²) + eps)} along the innermost dimension. */
    public Tensor rmsNorm(Tensor a, float eps) {
        own(a);
        if (!(eps > 0)) {
            throw new IllegalArgumentException("rmsNorm needs a positive epsilon, not " + eps);
        }
        return op("rmsNorm", () -> Ggml.ggml_rms_norm(handle, a.handle(), eps));
    }

    /** Sums along the innermost dimension: {@code [n, ...]} to {@code [1, ...]}. */
    public Tensor sumRows(Tensor a) {
        own(a);
        return op("sumRows", () -> Ggml.ggml_sum_rows(handle, a.handle()));
    }

    /** Each element limited to {@code [min, max]}. */
    public Tensor clamp(Tensor a, float min, float max) {
        own(a);
        return op("clamp", () -> Ggml.ggml_clamp(handle, a.handle(), min, max));
    }

    /** {@code x * s}. */
    public Tensor scale(Tensor a, float s) {
        own(a);
        return op("scale", () -> Ggml.ggml_scale(handle, a.handle(), s));
    }

    public Tensor sigmoid(Tensor a) {
        own(a);
        return op("sigmoid", () -> Ggml.ggml_sigmoid(handle, a.handle()));
    }

    /** {@code silu(gate) * up}, element-wise, for gated feed-forward blocks. */
    public Tensor swiglu(Tensor gate, Tensor up) {
        own(gate, up);
        for (int i = 0; i < 4; i++) {
            if (gate.ne(i) != up.ne(i)) {
                throw new IllegalArgumentException("swiglu needs equal shapes, got " + gate.shapeString() + " and " + up.shapeString());
            }
        }
        return op("swiglu", () -> Ggml.ggml_swiglu_split(handle, gate.handle(), up.handle()));
    }

    /** Rows of {@code data} picked by the I32 indices in {@code rows} (dequantized to F32). */
    public Tensor getRows(Tensor data, Tensor rows) {
        own(data, rows);
        requireType("getRows indices", rows, GgmlType.I32);
        return op("getRows", () -> Ggml.ggml_get_rows(handle, data.handle(), rows.handle()));
    }

    /**
     * Writes the rows of {@code source} into {@code destination} at the I64 row indices {@code rows},
     * converting to the destination's type; returns the destination as the op's result.
     */
    public Tensor setRows(Tensor destination, Tensor source, Tensor rows) {
        own(destination, source, rows);
        requireType("setRows indices", rows, GgmlType.I64);
        if (destination.ne(0) != source.ne(0) || source.ne(1) != rows.ne(0)) {
            throw new IllegalArgumentException("setRows needs rows of " + destination.ne(0) + " and one index per row, got "
                    + source.shapeString() + " and " + rows.shapeString());
        }
        return op("setRows", () -> Ggml.ggml_set_rows(handle, destination.handle(), source.handle(), rows.handle()));
    }

    /** The same data seen with shape {@code ne}; the element count must not change. */
    public Tensor reshape(Tensor a, long... ne) {
        own(a);
        if (ne.length < 1 || ne.length > 4 || elementCount(ne) != a.elementCount()) {
            throw new IllegalArgumentException("cannot reshape " + a.shapeString() + " to " + Arrays.toString(ne));
        }
        if (!Ggml.ggml_is_contiguous(a.handle())) {
            throw new IllegalArgumentException("cannot reshape the non-contiguous " + a.shapeString());
        }
        return op("reshape", () -> switch (ne.length) {
            case 1 -> Ggml.ggml_reshape_1d(handle, a.handle(), ne[0]);
            case 2 -> Ggml.ggml_reshape_2d(handle, a.handle(), ne[0], ne[1]);
            case 3 -> Ggml.ggml_reshape_3d(handle, a.handle(), ne[0], ne[1], ne[2]);
            default -> Ggml.ggml_reshape_4d(handle, a.handle(), ne[0], ne[1], ne[2], ne[3]);
        });
    }

    /** A 2-D view: {@code ne0 x ne1} elements, rows {@code nb1} bytes apart, from byte {@code offset}. */
    public Tensor view(Tensor a, long ne0, long ne1, long nb1, long offset) {
        own(a);
        checkView(a, (ne1 - 1) * nb1 + a.type().rowBytes(ne0), offset);
        return op("view", () -> Ggml.ggml_view_2d(handle, a.handle(), ne0, ne1, nb1, offset));
    }

    /** A 3-D view with row stride {@code nb1} and slice stride {@code nb2}. */
    public Tensor view(Tensor a, long ne0, long ne1, long ne2, long nb1, long nb2, long offset) {
        own(a);
        checkView(a, (ne2 - 1) * nb2 + (ne1 - 1) * nb1 + a.type().rowBytes(ne0), offset);
        return op("view", () -> Ggml.ggml_view_3d(handle, a.handle(), ne0, ne1, ne2, nb1, nb2, offset));
    }

    /** A 4-D view with strides {@code nb1}, {@code nb2} and {@code nb3}. */
    public Tensor view(Tensor a, long ne0, long ne1, long ne2, long ne3, long nb1, long nb2, long nb3, long offset) {
        own(a);
        checkView(a, (ne3 - 1) * nb3 + (ne2 - 1) * nb2 + (ne1 - 1) * nb1 + a.type().rowBytes(ne0), offset);
        return op("view", () -> Ggml.ggml_view_4d(handle, a.handle(), ne0, ne1, ne2, ne3, nb1, nb2, nb3, offset));
    }

    /** Dimension {@code i} of {@code a} becomes dimension {@code axes[i]} of the result. */
    public Tensor permute(Tensor a, int axis0, int axis1, int axis2, int axis3) {
        own(a);
        return op("permute", () -> Ggml.ggml_permute(handle, a.handle(), axis0, axis1, axis2, axis3));
    }

    /**
     * {@code a} followed by {@code b} along dimension {@code dim}, in a new contiguous tensor: the two must
     * have one type and the same size in every other dimension. Rows are copied whole, so quantized rows
     * work when {@code dim} is not 0.
     */
    public Tensor concat(Tensor a, Tensor b, int dim) {
        own(a, b);
        if (dim < 0 || dim > 3 || a.type() != b.type()) {
            throw new IllegalArgumentException("cannot concatenate " + a.type() + " and " + b.type() + " along dimension " + dim);
        }
        for (int d = 0; d < 4; d++) {
            if (d != dim && a.ne(d) != b.ne(d)) {
                throw new IllegalArgumentException("cannot concatenate " + a.shapeString() + " and " + b.shapeString()
                        + " along dimension " + dim);
            }
        }
        return op("concat", () -> Ggml.ggml_concat(handle, a.handle(), b.handle(), dim));
    }

    /**
     * {@code a} converted to {@code type}, in a new contiguous tensor. ggml's CPU backend converts F16 and
     * F32 to any type but a quantized type only to F32 (and claims the others, then aborts): a quantized
     * source is refused unless {@code type} is F32.
     */
    public Tensor cast(Tensor a, GgmlType type) {
        own(a);
        if (a.type().isQuantized() && type != GgmlType.F32) {
            throw new IllegalArgumentException("cannot convert " + a.type() + " to " + type + " directly: convert it to F32 first");
        }
        return op("cast", () -> Ggml.ggml_cast(handle, a.handle(), type.id()));
    }

    /** A contiguous copy. */
    public Tensor cont(Tensor a) {
        own(a);
        return op("cont", () -> Ggml.ggml_cont(handle, a.handle()));
    }

    /** A contiguous copy of shape {@code ne0 x ne1}; the element count must not change. */
    public Tensor cont(Tensor a, long ne0, long ne1) {
        own(a);
        if (ne0 * ne1 != a.elementCount()) {
            throw new IllegalArgumentException("cannot copy " + a.shapeString() + " to " + ne0 + " x " + ne1);
        }
        return op("cont", () -> Ggml.ggml_cont_2d(handle, a.handle(), ne0, ne1));
    }

    /** {@code a} repeated to the shape {@code ne0 x ne1 x ne2 x ne3} (each a multiple of a's). */
    public Tensor repeat(Tensor a, long ne0, long ne1, long ne2, long ne3) {
        own(a);
        if (ne0 % a.ne(0) != 0 || ne1 % a.ne(1) != 0 || ne2 % a.ne(2) != 0 || ne3 % a.ne(3) != 0) {
            throw new IllegalArgumentException("cannot repeat " + a.shapeString() + " to [" + ne0 + ", " + ne1 + ", " + ne2 + ", " + ne3 + "]");
        }
        return op("repeat", () -> Ggml.ggml_repeat_4d(handle, a.handle(), ne0, ne1, ne2, ne3));
    }

    /** Indices (I32) of the {@code k} largest values of each row, largest first. */
    public Tensor topK(Tensor a, int k) {
        own(a);
        if (k < 1 || k > a.ne(0)) {
            throw new IllegalArgumentException("topK of " + k + " from rows of " + a.ne(0));
        }
        reserveTensor();   // the argsort it views
        return op("topK", () -> Ggml.ggml_argsort_top_k(handle, a.handle(), k));
    }

    /**
     * Matrix products with one matrix per selected expert: {@code experts [k, m, n_expert]},
     * {@code b [k, n_expert_used or 1, n_tokens]}, {@code ids} I32 {@code [n_expert_used, n_tokens]}.
     */
    public Tensor mulMatId(Tensor experts, Tensor b, Tensor ids) {
        own(experts, b, ids);
        requireType("mulMatId ids", ids, GgmlType.I32);
        if (experts.ne(0) != b.ne(0) || b.ne(2) != ids.ne(1) || (b.ne(1) != 1 && b.ne(1) != ids.ne(0))) {
            throw new IllegalArgumentException("mulMatId shapes do not fit: experts " + experts.shapeString() + ", b "
                    + b.shapeString() + ", ids " + ids.shapeString());
        }
        return op("mulMatId", () -> Ggml.ggml_mul_mat_id(handle, experts.handle(), b.handle(), ids.handle()));
    }

    /**
     * Copies {@code source} into {@code destination} (of as many elements, converting the type), and
     * returns the destination as the op's result: how a graph leaves a value in a tensor that outlives it.
     */
    public Tensor copy(Tensor source, Tensor destination) {
        own(source, destination);
        if (source.elementCount() != destination.elementCount()) {
            throw new IllegalArgumentException("copy needs as many elements: " + source.shapeString() + " into " + destination.shapeString());
        }
        return op("copy", () -> Ggml.ggml_cpy(handle, source.handle(), destination.handle()));
    }

    /** Rotary position embedding, ggml's {@code rope_ext}; {@code freqFactors} may be null. */
    public Tensor rope(Tensor a, Tensor positions, Tensor freqFactors, Rope rope) {
        own(a, positions);
        requireType("rope positions", positions, GgmlType.I32);
        if (positions.ne(0) != a.ne(2)) {
            throw new IllegalArgumentException("rope needs one position per token: " + positions.shapeString() + " for " + a.shapeString());
        }
        if (freqFactors != null) {
            own(freqFactors);
        }
        MemorySegment factors = freqFactors == null ? MemorySegment.NULL : freqFactors.handle();
        return op("rope", () -> Ggml.ggml_rope_ext(handle, a.handle(), positions.handle(), factors, rope.dimensions(),
                rope.mode(), rope.originalContext(), rope.freqBase(), rope.freqScale(), rope.extFactor(), rope.attnFactor(),
                rope.betaFast(), rope.betaSlow()));
    }

    /**
     * Flash attention: {@code q [d, n_tokens, n_head]}, {@code k}/{@code v} {@code [d, n_kv, n_head_kv]} (F16),
     * {@code mask} F16 {@code [n_kv, n_tokens]} of 0 and -inf. Result {@code [d, n_head, n_tokens]}, accumulated in F32.
     */
    public Tensor flashAttention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        own(q, k, v, mask);
        if (q.ne(0) != k.ne(0) || k.ne(1) != v.ne(1) || q.ne(2) % k.ne(2) != 0 || mask.ne(0) != k.ne(1) || mask.ne(1) < q.ne(1)) {
            throw new IllegalArgumentException("flash attention shapes do not fit: q " + q.shapeString() + ", k "
                    + k.shapeString() + ", v " + v.shapeString() + ", mask " + mask.shapeString());
        }
        Tensor result = op("flashAttention",
                () -> Ggml.ggml_flash_attn_ext(handle, q.handle(), k.handle(), v.handle(), mask.handle(), scale, 0f, 0f));
        Ggml.ggml_prec_set_acc(result.handle(), Ggml.GGML_PREC_F32());
        return result;
    }

    /** Marks {@code tensor} as a graph input: the allocator gives it memory of its own, filled before compute. */
    public Tensor input(Tensor tensor) {
        own(tensor);
        Ggml.ggml_set_input(tensor.handle());
        return tensor;
    }

    /** Marks {@code tensor} as a graph output: its memory is not reused before the caller reads it. */
    public Tensor output(Tensor tensor) {
        own(tensor);
        Ggml.ggml_set_output(tensor.handle());
        return tensor;
    }

    /** The context's one graph, empty: expand it with the tensors to compute, in order. */
    public ComputeGraph newGraph() {
        if (graphMade) {
            throw new IllegalStateException("this context has made its graph already; expand that one");
        }
        graphMade = true;
        MemorySegment graph = Ggml.ggml_new_graph_custom(handle, maxTensors, false);
        return new ComputeGraph(this, graph.reinterpret(arena, null));
    }

    /** The context's one graph, computing {@code output} and everything it depends on. */
    public ComputeGraph graph(Tensor output) {
        own(output);
        return newGraph().expand(output);
    }

    /**
     * Allocates the data of every tensor made so far in one buffer of {@code backend}, owned by this
     * context, and fills it with zeros. Returns the buffer's size in bytes.
     */
    public long allocateZeroed(Backend backend) {
        MemorySegment buffer = allocateOn(backend);
        Ggml.ggml_backend_buffer_clear(buffer, (byte) 0);
        return Ggml.ggml_backend_buffer_get_size(buffer);
    }

    /**
     * Allocates the data of every tensor made so far in one buffer of {@code type}, owned by this
     * context, and fills it with zeros. Returns the buffer's size in bytes.
     */
    public long allocateZeroed(BufferType type) {
        MemorySegment buffer = allocated(Ggml.ggml_backend_alloc_ctx_tensors_from_buft(handle, type.handle()),
                "in " + type.name() + " memory (out of memory, or no unallocated tensors)");
        Ggml.ggml_backend_buffer_clear(buffer, (byte) 0);
        return Ggml.ggml_backend_buffer_get_size(buffer);
    }

    /**
     * Places every tensor made so far in host memory that is reserved, not committed: an anonymous
     * mapping ({@link ReservedMemory}) wrapped as a CPU backend buffer, owned by this context. A page
     * takes memory only once something writes it, and reads as zeros before, so tensors that fill
     * slowly (a KV cache, cell by cell) cost what has been written of them, and need no zeroing. Each
     * tensor starts on a page of its own, so what one has written never commits another's pages.
     * Returns the bytes reserved.
     *
     * @throws IllegalStateException when the system refuses to reserve that much address space
     */
    public long allocateReserved() {
        List<MemorySegment> unplaced = new ArrayList<>();
        for (MemorySegment t = Ggml.ggml_get_first_tensor(handle); !t.equals(MemorySegment.NULL); t = Ggml.ggml_get_next_tensor(handle, t)) {
            MemorySegment tensor = t.reinterpret(ggml_tensor.sizeof());
            if (ggml_tensor.data(tensor).equals(MemorySegment.NULL) && ggml_tensor.view_src(tensor).equals(MemorySegment.NULL)) {
                unplaced.add(tensor);
            }
        }
        if (unplaced.isEmpty()) {
            throw new IllegalStateException("this context has no unallocated tensors");
        }
        long page = ReservedMemory.pageSize();   // ggml needs only its tensor alignment, far less than a page
        long[] offsets = new long[unplaced.size()];
        long total = 0;
        for (int i = 0; i < offsets.length; i++) {
            offsets[i] = total;
            total += (Ggml.ggml_nbytes(unplaced.get(i)) + page - 1) / page * page;
        }
        ReservedMemory reserved = ReservedMemory.reserve(total);
        reservations.add(reserved);
        MemorySegment region = reserved.segment();
        MemorySegment buffer = adopt(Ggml.ggml_backend_cpu_buffer_from_ptr(region, region.byteSize()),
                "ggml cannot wrap reserved host memory as a CPU buffer");
        for (int i = 0; i < offsets.length; i++) {
            int status = Ggml.ggml_backend_tensor_alloc(buffer, unplaced.get(i), region.asSlice(offsets[i]));
            if (status != 0) {
                throw new IllegalStateException("could not place tensor " + ggml_tensor.name(unplaced.get(i)).getString(0)
                        + " in reserved memory (ggml status " + status + ")");
            }
        }
        return region.byteSize();
    }

    /**
     * Bytes of this context's tensor memory that hold memory now: every byte of its allocated buffers,
     * and of its {@link #allocateReserved() reserved} memory the pages written so far (as the kernel
     * counts them).
     */
    public long committedBytes() {
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException("this context is closed");
        }
        long committed = allocatedBytes;
        for (ReservedMemory reserved : reservations) {
            committed += reserved.residentBytes();
        }
        return committed;
    }

    /**
     * Gives back the memory of rows {@code from} to {@code to} (dimension 1) of {@code tensor}, when the
     * tensor lives in this context's {@link #allocateReserved() reserved} memory: the whole pages among
     * them, and the page the last row ends in, which holds only rows after it (unused, so zeros do) or the
     * tensor's own padding. They read as zeros afterwards and take memory again once written. Returns the
     * bytes given back (0 for a tensor elsewhere).
     */
    public long releaseRows(Tensor tensor, long from, long to) {
        long data = ggml_tensor.data(tensor.handle()).address();
        for (ReservedMemory reserved : reservations) {
            long start = reserved.segment().address();
            if (data >= start && data < start + reserved.byteSize()) {
                long page = ReservedMemory.pageSize();
                long offset = data - start;
                // allocateReserved gives each tensor whole pages: its last page holds nothing else.
                long tensorEnd = (offset + tensor.byteSize() + page - 1) / page * page;
                long begin = offset + Math.clamp(from, 0, tensor.ne(1)) * tensor.nb(1);
                long end = Math.min(tensorEnd, (offset + Math.clamp(to, 0, tensor.ne(1)) * tensor.nb(1) + page - 1) / page * page);
                return end > begin ? reserved.release(begin, end - begin) : 0;
            }
        }
        return 0;
    }

    /**
     * Allocates the data of every tensor made so far in one buffer of {@code backend}, owned by this
     * context. Returns the buffer's size in bytes.
     */
    public long allocate(Backend backend) {
        return Ggml.ggml_backend_buffer_get_size(allocateOn(backend));
    }

    private MemorySegment allocateOn(Backend backend) {
        return allocated(Ggml.ggml_backend_alloc_ctx_tensors(handle, backend.handle()),
                "on " + backend.name() + " (out of memory, or no unallocated tensors)");
    }

    /**
     * Allocates the data of every tensor made so far in one buffer of {@code type}, owned by this
     * context. Returns the buffer's size in bytes.
     */
    public long allocate(BufferType type) {
        MemorySegment buffer = allocated(Ggml.ggml_backend_alloc_ctx_tensors_from_buft(handle, type.handle()),
                "in " + type.name() + " memory");
        Ggml.ggml_backend_buffer_set_usage(buffer, Ggml.GGML_BACKEND_BUFFER_USAGE_WEIGHTS());
        return Ggml.ggml_backend_buffer_get_size(buffer);
    }

    /**
     * Places every tensor made so far in {@code type} without giving it memory, for measuring: each
     * gets an empty buffer of that type (owned by this context), which is all ggml's scheduler looks at
     * to decide where an op runs, and which keeps it from allocating the tensor itself. Returns the
     * bytes a real {@link #allocate(BufferType)} would take. Such tensors must never be read or written.
     * {@code weights}: the buffer is marked as holding weights, as real ones are, which is what lets the
     * scheduler run an op on a device beside the host buffer of its weight (op offload).
     */
    public long placeWithoutMemory(BufferType type, boolean weights) {
        MemorySegment empty = adopt(Ggml.ggml_backend_buft_alloc_buffer(type.handle(), 0),
                type.name() + " cannot make an empty buffer");
        if (weights) {
            Ggml.ggml_backend_buffer_set_usage(empty, Ggml.GGML_BACKEND_BUFFER_USAGE_WEIGHTS());
        }
        long alignment = Ggml.ggml_backend_buft_get_alignment(type.handle());
        long bytes = 0;
        for (MemorySegment t = Ggml.ggml_get_first_tensor(handle); !t.equals(MemorySegment.NULL); t = Ggml.ggml_get_next_tensor(handle, t)) {
            MemorySegment tensor = t.reinterpret(ggml_tensor.sizeof());
            if (ggml_tensor.data(tensor).equals(MemorySegment.NULL) && ggml_tensor.view_src(tensor).equals(MemorySegment.NULL)) {
                long size = Ggml.ggml_backend_buft_get_alloc_size(type.handle(), tensor);
                bytes += (size + alignment - 1) / alignment * alignment;
                ggml_tensor.buffer(tensor, empty);
            }
        }
        return bytes;
    }

    /** Adopts a buffer just allocated for this context's tensors and counts it in {@link #allocatedBytes()}. */
    private MemorySegment allocated(MemorySegment buffer, String where) {
        MemorySegment owned = adopt(buffer, "could not allocate the tensors " + where);
        allocatedBytes += Ggml.ggml_backend_buffer_get_size(owned);
        return owned;
    }

    /** Takes ownership of a fresh buffer, freed when this context closes; a null one is refused with {@code failure}. */
    private MemorySegment adopt(MemorySegment buffer, String failure) {
        if (buffer.equals(MemorySegment.NULL)) {
            throw new IllegalStateException(failure);
        }
        return buffer.reinterpret(arena, Ggml::ggml_backend_buffer_free);
    }

    /**
     * Places tensors of this context in host memory that already holds their data (a memory-mapped
     * file), without copying: a buffer of {@code device} wraps {@code region} and each tensor's data
     * points at its offset in it. The region must outlive this context.
     */
    public void placeInHostMemory(BackendDevice device, MemorySegment region, Map<Tensor, Long> offsets) {
        long maxTensor = 0;
        for (var entry : offsets.entrySet()) {
            own(entry.getKey());
            long end = entry.getValue() + entry.getKey().byteSize();
            if (entry.getValue() < 0 || end > region.byteSize()) {
                throw new IllegalArgumentException("tensor " + entry.getKey().name() + " lies outside the memory region");
            }
            maxTensor = Math.max(maxTensor, entry.getKey().byteSize());
        }
        MemorySegment owned = adopt(Ggml.ggml_backend_dev_buffer_from_host_ptr(device.handle(), region, region.byteSize(), maxTensor),
                device.name() + " cannot use host memory in place");
        Ggml.ggml_backend_buffer_set_usage(owned, Ggml.GGML_BACKEND_BUFFER_USAGE_WEIGHTS());
        for (var entry : offsets.entrySet()) {
            MemorySegment address = region.asSlice(entry.getValue(), entry.getKey().byteSize());
            int status = Ggml.ggml_backend_tensor_alloc(owned, entry.getKey().handle(), address);
            if (status != 0) {
                throw new IllegalStateException("could not place tensor " + entry.getKey().name() + " (ggml status " + status + ")");
            }
        }
    }

    /**
     * Host memory owned by this context, freed with it: a staging area for data on its way into
     * tensors, reused batch after batch instead of allocated each time.
     */
    public MemorySegment allocateHost(long bytes) {
        return arena.allocate(bytes, 64);
    }

    /** Bytes of backend memory this context owns. */
    public long allocatedBytes() {
        return allocatedBytes;
    }

    /** Frees the context, its buffers and then the memory reserved under them. */
    @Override
    public void close() {
        NativeResources.close(arena);
        reservations.forEach(ReservedMemory::close);
    }

    /**
     * Makes one op's result: refuses if this context is closed or full, then calls ggml ({@code make})
     * and wraps what it returns. Operands are checked by the caller, before this.
     */
    private Tensor op(String what, Supplier<MemorySegment> make) {
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException("this context is closed");
        }
        reserveTensor();
        MemorySegment raw = make.get();
        if (raw.equals(MemorySegment.NULL)) {
            throw new IllegalStateException(what + " returned no tensor");
        }
        return new Tensor(this, raw);
    }

    private void reserveTensor() {
        if (tensors == maxTensors) {
            throw new IllegalStateException("this context is full: it was made for " + maxTensors + " tensors");
        }
        tensors++;
    }

    /**
     * Checks that each tensor's context is still open. Operands may come from other contexts (a graph
     * reads the weights' context); ggml only needs them alive while the graph is used.
     */
    void own(Tensor... operands) {
        for (Tensor tensor : operands) {
            if (!tensor.context().arena.scope().isAlive()) {
                throw new IllegalStateException("tensor's context is closed");
            }
        }
    }

    /** The element count of shape {@code ne}, or -1 where a dimension is not positive or the count overflows. */
    private static long elementCount(long[] ne) {
        long count = 1;
        for (long n : ne) {
            if (n < 1 || count > Long.MAX_VALUE / n) {
                return -1;
            }
            count *= n;
        }
        return count;
    }

    private static void requireType(String what, Tensor tensor, GgmlType type) {
        if (tensor.type() != type) {
            throw new IllegalArgumentException(what + " must be " + type + ", not " + tensor.type());
        }
    }

    private static void checkView(Tensor a, long extent, long offset) {
        if (offset < 0 || extent < 0 || offset + extent > a.byteSize()) {
            throw new IllegalArgumentException("view of " + extent + " bytes at " + offset + " lies outside " + a.shapeString());
        }
    }

    private void checkBroadcast(String op, Tensor a, Tensor b) {
        own(a, b);
        for (int i = 0; i < 4; i++) {
            if (a.ne(i) % b.ne(i) != 0) {
                throw new IllegalArgumentException(op + " cannot broadcast " + b.shapeString() + " over " + a.shapeString());
            }
        }
    }
}
