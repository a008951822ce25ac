package dev.panllama.ggml;

import dev.panllama.bindings.NativeLibraries;
import dev.panllama.bindings.ggml.Ggml;
import dev.panllama.bindings.ggml.ggml_init_params;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

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
        Arena arena = Arena.ofShared();
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment params = ggml_init_params.allocate(scratch);
            ggml_init_params.mem_size(params, size);
            ggml_init_params.mem_buffer(params, MemorySegment.NULL);
            ggml_init_params.no_alloc(params, true);
            MemorySegment raw = Ggml.ggml_init(params);
            if (raw.equals(MemorySegment.NULL)) {
                arena.close();
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
                throw new IllegalArgumentException("tensor dimensions must be positive: " + java.util.Arrays.toString(ne));
            }
        }
        type.rowBytes(ne[0]);
        reserveTensor();
        int id = type.id();
        MemorySegment raw = switch (ne.length) {
            case 1 -> Ggml.ggml_new_tensor_1d(handle, id, ne[0]);
            case 2 -> Ggml.ggml_new_tensor_2d(handle, id, ne[0], ne[1]);
            case 3 -> Ggml.ggml_new_tensor_3d(handle, id, ne[0], ne[1], ne[2]);
            default -> Ggml.ggml_new_tensor_4d(handle, id, ne[0], ne[1], ne[2], ne[3]);
        };
        return wrap(raw, "new tensor");
    }

    /**
     * The matrix product {@code a · bᵀ} row by row, as ggml defines it: F32 {@code [a.ne1, b.ne1, b.ne2, b.ne3]}
     * from {@code a [k, m, ...]} (any type) and {@code b [k, n, ...]}, with a's batch dimensions broadcast.
     */
    public Tensor mulMat(Tensor a, Tensor b) {
        own(a);
        own(b);
        if (a.ne(0) != b.ne(0) || b.ne(2) % a.ne(2) != 0 || b.ne(3) % a.ne(3) != 0) {
            throw new IllegalArgumentException("mulMat needs a [k, m, p, q] and b [k, n, p*i, q*j], got a "
                    + a.shapeString() + " and b " + b.shapeString());
        }
        if (a.isTransposed()) {
            throw new IllegalArgumentException("mulMat cannot take a transposed a: " + a.shapeString());
        }
        reserveTensor();
        return wrap(Ggml.ggml_mul_mat(handle, a.handle(), b.handle()), "mulMat");
    }

    /** {@code a + b}, b broadcast over a (each of a's dimensions a multiple of b's). */
    public Tensor add(Tensor a, Tensor b) {
        checkBroadcast("add", a, b);
        reserveTensor();
        return wrap(Ggml.ggml_add(handle, a.handle(), b.handle()), "add");
    }

    /** {@code a * b} element-wise, b broadcast over a. */
    public Tensor mul(Tensor a, Tensor b) {
        checkBroadcast("mul", a, b);
        reserveTensor();
        return wrap(Ggml.ggml_mul(handle, a.handle(), b.handle()), "mul");
    }

    /** Softmax along the innermost dimension. */
    public Tensor softMax(Tensor a) {
        own(a);
        reserveTensor();
        return wrap(Ggml.ggml_soft_max(handle, a.handle()), "softMax");
    }

    /** {@code x / sqrt(mean(x²) + eps)} along the innermost dimension. */
    public Tensor rmsNorm(Tensor a, float eps) {
        own(a);
        if (!(eps > 0)) {
            throw new IllegalArgumentException("rmsNorm needs a positive epsilon, not " + eps);
        }
        reserveTensor();
        return wrap(Ggml.ggml_rms_norm(handle, a.handle(), eps), "rmsNorm");
    }

    /** The context's one graph, computing {@code output} and everything it depends on. */
    public ComputeGraph graph(Tensor output) {
        own(output);
        if (graphMade) {
            throw new IllegalStateException("this context has made its graph already; expand that one");
        }
        graphMade = true;
        MemorySegment graph = Ggml.ggml_new_graph_custom(handle, maxTensors, false);
        ComputeGraph result = new ComputeGraph(this, graph.reinterpret(arena, null));
        result.expand(output);
        return result;
    }

    /**
     * Allocates the data of every tensor made so far in one buffer of {@code backend}, owned by this
     * context. Returns the buffer's size in bytes.
     */
    public long allocate(Backend backend) {
        MemorySegment buffer = Ggml.ggml_backend_alloc_ctx_tensors(handle, backend.handle());
        if (buffer.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("could not allocate the tensors on " + backend.name()
                    + " (out of memory, or no unallocated tensors)");
        }
        MemorySegment owned = buffer.reinterpret(arena, Ggml::ggml_backend_buffer_free);
        long size = Ggml.ggml_backend_buffer_get_size(owned);
        allocatedBytes += size;
        return size;
    }

    /** Bytes of backend memory this context owns. */
    public long allocatedBytes() {
        return allocatedBytes;
    }

    @Override
    public void close() {
        arena.close();
    }

    private void reserveTensor() {
        if (tensors == maxTensors) {
            throw new IllegalStateException("this context is full: it was made for " + maxTensors + " tensors");
        }
        tensors++;
    }

    private Tensor wrap(MemorySegment raw, String what) {
        if (raw.equals(MemorySegment.NULL)) {
            throw new IllegalStateException(what + " returned no tensor");
        }
        return new Tensor(this, raw);
    }

    void own(Tensor tensor) {
        if (tensor.context() != this) {
            throw new IllegalArgumentException("tensor " + tensor.name() + " belongs to another context");
        }
    }

    private void checkBroadcast(String op, Tensor a, Tensor b) {
        own(a);
        own(b);
        for (int i = 0; i < 4; i++) {
            if (a.ne(i) % b.ne(i) != 0) {
                throw new IllegalArgumentException(op + " cannot broadcast " + b.shapeString() + " over " + a.shapeString());
            }
        }
    }
}
