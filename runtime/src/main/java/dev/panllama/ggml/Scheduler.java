package dev.panllama.ggml;

import dev.panllama.bindings.ggml.Ggml;
import dev.panllama.bindings.ggml.ggml_backend_sched_eval_callback;
import dev.panllama.bindings.ggml.ggml_tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.function.Predicate;

/**
 * ggml's backend scheduler: splits a graph over the backends that hold its tensors, allocates its
 * intermediate tensors and computes it. One scheduler serves graph after graph; the compute memory it
 * reserves grows to the largest graph seen and is reused.
 */
public final class Scheduler implements AutoCloseable {

    /** What {@link #observe} hands over: a node's name and its rows (of {@code ne0} floats each). */
    @FunctionalInterface
    public interface NodeObserver {
        void computed(String name, float[][] rows);
    }

    private final Arena arena;
    private final MemorySegment handle;
    private final List<Backend> backends;
    private MemorySegment observing;        // the eval callback's upcall stub, or null
    private RuntimeException observerFailure;

    private Scheduler(Arena arena, MemorySegment handle, List<Backend> backends) {
        this.arena = arena;
        this.handle = handle;
        this.backends = backends;
    }

    /** A scheduler over {@code backends}, in order of preference; the CPU backend must be last. */
    public static Scheduler create(List<Backend> backends, int maxGraphNodes) {
        Arena arena = NativeResources.openArena();
        MemorySegment array = arena.allocate(java.lang.foreign.ValueLayout.ADDRESS, backends.size());
        for (int i = 0; i < backends.size(); i++) {
            array.setAtIndex(java.lang.foreign.ValueLayout.ADDRESS, i, backends.get(i).handle());
        }
        MemorySegment raw = Ggml.ggml_backend_sched_new(array, MemorySegment.NULL, backends.size(), maxGraphNodes, false, true);
        if (raw.equals(MemorySegment.NULL)) {
            NativeResources.close(arena);
            throw new IllegalStateException("ggml could not create a scheduler");
        }
        return new Scheduler(arena, raw.reinterpret(arena, Ggml::ggml_backend_sched_free), List.copyOf(backends));
    }

    /**
     * Allocates {@code graph}'s tensors, its {@link ComputeGraph#computeOnHost} nodes on the CPU backend;
     * afterwards its inputs can be written.
     */
    public void allocate(ComputeGraph graph) {
        Ggml.ggml_backend_sched_reset(handle);
        // After the reset, which forgets them, and before the split, which honours them.
        for (Tensor node : graph.hostNodes()) {
            Ggml.ggml_backend_sched_set_tensor_backend(handle, node.handle(), backends.getLast().handle());
        }
        if (!Ggml.ggml_backend_sched_alloc_graph(handle, graph.handle())) {
            throw new IllegalStateException("ggml could not allocate the compute graph (out of memory?)");
        }
    }

    /**
     * The compute memory each backend would need for {@code graph}, in the order the scheduler was
     * made with, without allocating it: how the planner learns what a batch of the largest shape takes.
     * ggml's measure starts with a reset, which forgets where nodes were told to run, so the
     * {@link ComputeGraph#computeOnHost} nodes are measured where ggml itself would put them (as
     * llama.cpp's own such nodes are by its {@code --fit}).
     */
    public long[] measure(ComputeGraph graph) {
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment sizes = scratch.allocate(java.lang.foreign.ValueLayout.JAVA_LONG, backends.size());
            Ggml.ggml_backend_sched_reserve_size(handle, graph.handle(), sizes);
            return sizes.toArray(java.lang.foreign.ValueLayout.JAVA_LONG);
        }
    }

    /** The compute memory the scheduler holds on {@code backend} now: the most the graphs so far have needed there. */
    public long computeBytes(Backend backend) {
        return Ggml.ggml_backend_sched_get_buffer_size(handle, backend.handle());
    }

    /** Computes an allocated graph. */
    public void compute(ComputeGraph graph) {
        observerFailure = null;
        int status = Ggml.ggml_backend_sched_graph_compute(handle, graph.handle());
        if (observerFailure != null) {
            throw observerFailure;
        }
        if (status != 0) {
            throw new IllegalStateException("ggml failed to compute the graph (status " + status + ")");
        }
    }

    /**
     * Hands {@code observer}, on the computing thread, the values of every node whose name {@code wanted}
     * accepts as soon as a computation has produced them (ggml's eval callback); a null observer stops
     * observing. ggml then computes each graph in pieces that end at such nodes, which is slower: this is
     * for tests and diagnostics. The nodes must be contiguous F32 tensors. What the observer throws stops
     * the computation and is thrown by {@link #compute}.
     */
    public void observe(Predicate<String> wanted, NodeObserver observer) {
        if (observer == null) {
            Ggml.ggml_backend_sched_set_eval_callback(handle, MemorySegment.NULL, MemorySegment.NULL);
            observing = null;
            return;
        }
        // An exception must not leave an upcall (the JVM would end): it is kept and thrown after the computation.
        observing = ggml_backend_sched_eval_callback.allocate((raw, ask, userData) -> {
            try {
                MemorySegment node = raw.reinterpret(ggml_tensor.sizeof());
                String name = ggml_tensor.name(node).getString(0);
                if (ask) {
                    return wanted.test(name);
                }
                observer.computed(name, rows(node, name));
                return true;
            } catch (RuntimeException e) {
                observerFailure = e;
                return false;
            }
        }, arena);
        Ggml.ggml_backend_sched_set_eval_callback(handle, observing, MemorySegment.NULL);
    }

    /** The rows of a computed F32 node, copied from whichever backend holds it. */
    private static float[][] rows(MemorySegment node, String name) {
        if (ggml_tensor.type(node) != GgmlType.F32.id() || !Ggml.ggml_is_contiguous(node)) {
            throw new IllegalArgumentException("node " + name + " is not a contiguous F32 tensor: it cannot be observed");
        }
        int rowLength = Math.toIntExact(ggml_tensor.ne(node, 0));
        int rowCount = Math.toIntExact(Ggml.ggml_nelements(node) / rowLength);
        float[][] rows = new float[rowCount][];
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment data = scratch.allocate(Ggml.ggml_nbytes(node));
            Ggml.ggml_backend_tensor_get(node, data, 0, data.byteSize());
            for (int r = 0; r < rowCount; r++) {
                rows[r] = data.asSlice(4L * rowLength * r, 4L * rowLength).toArray(ValueLayout.JAVA_FLOAT);
            }
        }
        return rows;
    }

    @Override
    public void close() {
        NativeResources.close(arena);
    }
}
