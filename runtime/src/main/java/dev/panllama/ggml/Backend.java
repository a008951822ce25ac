package dev.panllama.ggml;

import dev.panllama.bindings.ggml.Ggml;
import dev.panllama.bindings.ggml.ggml_backend_set_n_threads_t;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An initialized ggml backend on one device: it computes graphs. Closing it frees the backend. The
 * CPU backend gets a thread pool of its own that lives as long as it does: without one, ggml starts
 * and joins its worker threads for every graph, a few hundred microseconds a one-token step (llama.cpp's
 * tools attach one too).
 */
public final class Backend implements AutoCloseable {

    private static final int GGML_STATUS_SUCCESS = 0;
    private static final Linker LINKER = Linker.nativeLinker();

    private final BackendDevice device;
    private final Arena arena;
    private final MemorySegment handle;
    private MemorySegment threadPool = MemorySegment.NULL;

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
            usePool(threads);
        }
        return this;
    }

    /**
     * Gives the backend a pool of {@code threads} threads, freeing the one it had. The functions come
     * from the backend's registry (in the jar's build the CPU backend is a module loaded by ggml, whose
     * symbols are not in this process's lookup).
     */
    private void usePool(int threads) {
        MemorySegment create = device.procAddress("ggml_threadpool_new");
        MemorySegment attach = device.procAddress("ggml_backend_cpu_set_threadpool");
        if (create.equals(MemorySegment.NULL) || attach.equals(MemorySegment.NULL)) {
            return;
        }
        MemorySegment pool;
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment params = Ggml.ggml_threadpool_params_default(scratch, threads);
            pool = (MemorySegment) LINKER.downcallHandle(create, FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS))
                    .invokeExact(params);
        } catch (Throwable e) {
            throw new IllegalStateException("could not create a thread pool of " + threads + " threads", e);
        }
        if (pool.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("ggml could not create a thread pool of " + threads + " threads");
        }
        try {
            LINKER.downcallHandle(attach, FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS)).invokeExact(handle, pool);
        } catch (Throwable e) {
            throw new IllegalStateException("could not attach the thread pool", e);
        }
        freePool();
        threadPool = pool;
    }

    private void freePool() {
        if (threadPool.equals(MemorySegment.NULL)) {
            return;
        }
        MemorySegment free = device.procAddress("ggml_threadpool_free");
        try {
            LINKER.downcallHandle(free, FunctionDescriptor.ofVoid(ValueLayout.ADDRESS)).invokeExact(threadPool);
        } catch (Throwable e) {
            throw new IllegalStateException("could not free the thread pool", e);
        }
        threadPool = MemorySegment.NULL;
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
        NativeResources.close(arena);   // the backend first: it uses the pool until freed
        freePool();
    }
}
