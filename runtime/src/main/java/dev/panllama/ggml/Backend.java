package dev.panllama.ggml;

import dev.panllama.bindings.ggml.Ggml;
import dev.panllama.bindings.ggml.ggml_backend_set_n_threads_t;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** An initialized ggml backend on one device: it computes graphs. Closing it frees the backend. */
public final class Backend implements AutoCloseable {

    private static final int GGML_STATUS_SUCCESS = 0;

    private final BackendDevice device;
    private final Arena arena;
    private final MemorySegment handle;

    private Backend(BackendDevice device, Arena arena, MemorySegment handle) {
        this.device = device;
        this.arena = arena;
        this.handle = handle;
    }

    /** Initializes the backend of {@code device}. */
    public static Backend open(BackendDevice device) {
        MemorySegment raw = Ggml.ggml_backend_dev_init(device.handle(), MemorySegment.NULL);
        if (raw.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("could not initialize the " + device.name() + " backend");
        }
        Arena arena = NativeResources.openArena();
        return new Backend(device, arena, raw.reinterpret(arena, Ggml::ggml_backend_free));
    }

    /** The CPU backend with {@code threads} threads. */
    public static Backend cpu(int threads) {
        Backend backend = open(BackendDevice.cpu());
        backend.threads(threads);
        return backend;
    }

    MemorySegment handle() {
        return handle;
    }

    public BackendDevice device() {
        return device;
    }

    public String name() {
        return Ggml.ggml_backend_name(handle).reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** Sets how many threads the backend computes with; backends that do not use host threads ignore it. */
    public Backend threads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, not " + threads);
        }
        MemorySegment setter = device.procAddress("ggml_backend_set_n_threads");
        if (!setter.equals(MemorySegment.NULL)) {
            ggml_backend_set_n_threads_t.invoke(setter, handle, threads);
        }
        return this;
    }

    /** Computes {@code graph}, whose tensors must be allocated on this backend's device. */
    public void compute(ComputeGraph graph) {
        int status = Ggml.ggml_backend_graph_compute(handle, graph.handle());
        if (status != GGML_STATUS_SUCCESS) {
            throw new IllegalStateException(name() + " failed to compute the graph (ggml status " + status + ")");
        }
    }

    @Override
    public void close() {
        NativeResources.close(arena);
    }
}
