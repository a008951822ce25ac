package dev.panllama.ggml;

import dev.panllama.bindings.ggml.Ggml;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * ggml's backend scheduler: splits a graph over the backends that hold its tensors, allocates its
 * intermediate tensors and computes it. One scheduler serves graph after graph; the compute memory it
 * reserves grows to the largest graph seen and is reused.
 */
public final class Scheduler implements AutoCloseable {

    private final Arena arena;
    private final MemorySegment handle;
    private final List<Backend> backends;

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

    /** Allocates {@code graph}'s tensors; afterwards its inputs can be written. */
    public void allocate(ComputeGraph graph) {
        Ggml.ggml_backend_sched_reset(handle);
        if (!Ggml.ggml_backend_sched_alloc_graph(handle, graph.handle())) {
            throw new IllegalStateException("ggml could not allocate the compute graph (out of memory?)");
        }
    }

    /**
     * The compute memory each backend would need for {@code graph}, in the order the scheduler was
     * made with, without allocating it: how the planner learns what a batch of the largest shape takes.
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
        int status = Ggml.ggml_backend_sched_graph_compute(handle, graph.handle());
        if (status != 0) {
            throw new IllegalStateException("ggml failed to compute the graph (status " + status + ")");
        }
    }

    @Override
    public void close() {
        NativeResources.close(arena);
    }
}
