package dev.panllama.model;

import dev.panllama.ggml.Backend;
import dev.panllama.ggml.BackendDevice;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufFingerprint;
import dev.panllama.gguf.GgufMetadata;
import dev.panllama.placement.ExpertCache;
import dev.panllama.placement.ExpertPolicy;
import dev.panllama.placement.Offload;
import dev.panllama.placement.WeightPlacement;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.DoubleConsumer;

/**
 * An open model: its GGUF mapped, its family and configuration read, its weights placed for ggml, the
 * backends to compute on (a GPU's first where one is used, the CPU's always). Evaluators made over it
 * ({@code dev.panllama.eval.Evaluator}) share all of that; closing the model closes the backends and
 * unmaps the file, after which its evaluators refuse use.
 */
public final class Model implements AutoCloseable {

    private final GgufFile file;
    private volatile GgufFingerprint fingerprint;
    private final Architecture architecture;
    private final ModelConfig config;
    private final List<Backend> backends;   // the offload devices' in order, the CPU's last
    private final WeightPlacement placement;
    private final ModelWeights weights;
    private final java.util.concurrent.locks.ReentrantLock computeLock = new java.util.concurrent.locks.ReentrantLock();
    private ExecutorService expertCopier;    // see openExpertCache
    private volatile boolean closed;
    private volatile ExpertCache expertCache;

    private Model(GgufFile file, Architecture architecture, ModelConfig config, List<Backend> backends, WeightPlacement placement,
                  ModelWeights weights) {
        this.file = file;
        this.architecture = architecture;
        this.config = config;
        this.backends = backends;
        this.placement = placement;
        this.weights = weights;
    }

    /**
     * Opens the model at {@code path} to compute on the CPU with {@code threads} threads.
     *
     * @throws dev.panllama.gguf.GgufException         when the file is not a usable GGUF
     * @throws UnsupportedArchitectureException        when its architecture is not implemented
     */
    public static Model open(Path path, int threads) {
        return open(path, threads, true, fraction -> { }, BackendDevice.cpu());
    }

    /**
     * Opens the model to compute on {@code device} with {@code threads} CPU threads. On a GPU every
     * weight is copied into its memory and the CPU backend stays beside it for what the GPU cannot do;
     * on the CPU the weights are mapped, or with {@code mmap} false read into memory. {@code progress}
     * hears the fraction of the weights loaded.
     */
    public static Model open(Path path, int threads, boolean mmap, DoubleConsumer progress, BackendDevice device) {
        return open(path, threads, mmap, progress, device.kind() == BackendDevice.Kind.CPU ? List.of() : List.of(device), Offload.all());
    }

    /**
     * Opens the model with its weights and KV cache split between the CPU and {@code devices} as
     * {@code offload} says (llama.cpp's {@code -ngl}, {@code -ot}, {@code --cpu-moe}, {@code --n-cpu-moe});
     * ggml's scheduler then runs each op where its weights are. With no devices, all is on the CPU.
     */
    public static Model open(Path path, int threads, boolean mmap, DoubleConsumer progress, List<BackendDevice> devices,
                             Offload offload) {
        return open(path, threads, mmap, devices, offload, (file, weights, layers, placement) ->
                ModelWeights.load(file, weights, layers, placement, progress));
    }

    /**
     * The model at {@code path} placed as {@link #open(Path, int, boolean, DoubleConsumer, List, Offload)}
     * would place it, with no memory for its weights and nothing read from the file: graphs built over
     * it measure what that placement needs ({@code dev.panllama.eval.MemoryNeeds}); it must not compute.
     */
    public static Model placeWithoutMemory(Path path, boolean mmap, List<BackendDevice> devices, Offload offload) {
        return open(path, 1, mmap, devices, offload, (file, weights, layers, placement) ->
                ModelWeights.placeWithoutMemory(file, weights, layers, placement));
    }

    private interface WeightLoader {
        ModelWeights load(GgufFile file, List<WeightSpec> weights, int layers, WeightPlacement placement);
    }

    private static Model open(Path path, int threads, boolean mmap, List<BackendDevice> devices, Offload offload, WeightLoader loader) {
        GgufFile file = GgufFile.open(path);
        List<Backend> backends = new ArrayList<>();
        try {
            Architecture architecture = Architecture.of(file.metadata());
            ModelConfig config = architecture.configure(file.metadata());
            WeightPlacement placement = new WeightPlacement(devices, offload, mmap, config.dims().layers(), config.experts().used());
            for (BackendDevice device : placement.devices()) {
                backends.add(Backend.open(device));
            }
            backends.add(Backend.cpu(threads));
            ModelWeights weights = loader.load(file, architecture.weights(config), config.dims().layers(), placement);
            return new Model(file, architecture, config, List.copyOf(backends), placement, weights);
        } catch (RuntimeException e) {
            backends.forEach(Backend::close);
            file.close();
            throw e;
        }
    }

    /** The file the model was opened from (the first part of a split model). */
    public Path path() {
        return file.parts().getFirst();
    }

    /** What tells this model's file from another's (computed once, reading each tensor's first page). */
    public GgufFingerprint fingerprint() {
        checkOpen();
        GgufFingerprint known = fingerprint;
        if (known == null) {
            known = GgufFingerprint.of(file);
            fingerprint = known;
        }
        return known;
    }

    /** The device the model computes on: the first it offloads to, else the CPU. */
    public BackendDevice device() {
        return backends.getFirst().device();
    }

    /** Where each weight and each layer's KV cache lives. */
    public WeightPlacement placement() {
        return placement;
    }

    public ModelConfig config() {
        return config;
    }

    public GgufMetadata metadata() {
        return file.metadata();
    }

    public Architecture architecture() {
        return architecture;
    }

    /** The weights, for the graph. */
    public ModelWeights weights() {
        checkOpen();
        return weights;
    }

    /** The backends to compute on: the offload devices' in order, the CPU's last. */
    public List<Backend> backends() {
        checkOpen();
        return backends;
    }

    /**
     * Keeps up to {@code slotsPerLayer} routed experts of each mixture-of-experts layer whose experts
     * are in host memory in device memory, chosen by {@code policy} from the routing the model produces
     * ({@link ExpertCache}); the evaluators of this model use it from their next step on. Replaces an
     * earlier cache.
     *
     * @throws IllegalArgumentException when the model has no such layer, no device, or the family's graph
     *                                  cannot be built in pieces
     */
    public ExpertCache openExpertCache(int slotsPerLayer, ExpertPolicy policy) {
        // Off the critical path where the device takes writes from another thread during a compute (see ExpertCache).
        boolean concurrentWrites = !placement.devices().isEmpty() && placement.devices().getFirst().backendName().equals("CUDA");
        return openExpertCache(slotsPerLayer, policy, concurrentWrites ? expertCopier() : null);
    }

    /** The thread the expert cache's copies run on, made when first needed, ended when the model closes. */
    private synchronized Executor expertCopier() {
        if (expertCopier == null) {
            expertCopier = Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon().name("panllama-expert-copier").factory());
        }
        return expertCopier;
    }

    /**
     * As {@link #openExpertCache(int, ExpertPolicy)}, its copies into the slots run on {@code copier} (null:
     * on the evaluating thread at the end of each step).
     */
    public ExpertCache openExpertCache(int slotsPerLayer, ExpertPolicy policy, Executor copier) {
        checkOpen();
        if (!(architecture.graph() instanceof LayerwiseGraphBuilder)) {
            throw new IllegalArgumentException("the expert cache is not available for " + config.architecture() + " models");
        }
        ExpertCache opened = new ExpertCache(config, weights, placement, name -> file.data(file.tensor(name)), slotsPerLayer, policy,
                copier);
        computeAlone(() -> {
            if (expertCache != null) {
                expertCache.close();
            }
            expertCache = opened;
        });
        return opened;
    }

    /** The expert cache, if one is open ({@link #openExpertCache}). */
    public Optional<ExpertCache> expertCache() {
        return Optional.ofNullable(expertCache);
    }

    /**
     * Runs {@code computation}, which computes a graph on this model's backends, while no other
     * evaluator of the model does: a backend (the CPU's threads and work buffer, a GPU's stream) computes
     * one graph at a time, and chats of one model may be used from different threads.
     */
    public void computeAlone(Runnable computation) {
        computeLock.lock();
        try {
            computation.run();
        } finally {
            computeLock.unlock();
        }
    }

    /** @throws IllegalStateException once the model is closed */
    public void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the model is closed");
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (expertCache != null) {
                expertCache.close();    // waits for its copies
            }
            synchronized (this) {
                if (expertCopier != null) {
                    expertCopier.shutdown();
                }
            }
            weights.close();
            backends.forEach(Backend::close);
            file.close();
        }
    }
}
