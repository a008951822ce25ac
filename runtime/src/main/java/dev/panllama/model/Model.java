package dev.panllama.model;

import dev.panllama.ggml.Backend;
import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufMetadata;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * An open model: its GGUF mapped, its configuration read, its weights placed for ggml, the backends to
 * compute on (a GPU's first where one is used, the CPU's always). Evaluators made from it share all of
 * that; closing the model closes the backends and
 * unmaps the file, after which its evaluators refuse use.
 */
public final class Model implements AutoCloseable {

    private final GgufFile file;
    private final Architecture architecture;
    private final ModelConfig config;
    private final List<Backend> backends;   // the compute device's first, the CPU's last
    private final ModelWeights weights;

    private Model(GgufFile file, Architecture architecture, ModelConfig config, List<Backend> backends, ModelWeights weights) {
        this.file = file;
        this.architecture = architecture;
        this.config = config;
        this.backends = backends;
        this.weights = weights;
    }

    /**
     * Opens the model at {@code path} to compute on the CPU with {@code threads} threads.
     *
     * @throws dev.panllama.gguf.GgufException         when the file is not a usable GGUF
     * @throws UnsupportedArchitectureException        when its architecture is not implemented
     */
    public static Model open(Path path, int threads) {
        return open(path, threads, true);
    }

    /** As {@link #open(Path, int)}; with {@code mmap} false the weights are read into memory instead of mapped. */
    public static Model open(Path path, int threads, boolean mmap) {
        return open(path, threads, mmap, fraction -> { });
    }

    /** As {@link #open(Path, int, boolean)}, telling {@code progress} the fraction of the weights loaded. */
    public static Model open(Path path, int threads, boolean mmap, java.util.function.DoubleConsumer progress) {
        return open(path, threads, mmap, progress, BackendDevice.cpu());
    }

    /**
     * Opens the model to compute on {@code device}. On a GPU every weight is copied into its memory and
     * the CPU backend stays beside it for what the GPU cannot do; on the CPU the weights are mapped.
     */
    public static Model open(Path path, int threads, boolean mmap, java.util.function.DoubleConsumer progress,
                             BackendDevice device) {
        GgufFile file = GgufFile.open(path);
        List<Backend> backends = new ArrayList<>();
        try {
            Architecture architecture = Architecture.of(file.metadata());
            ModelConfig config = architecture.configure(file.metadata());
            if (device.kind() != BackendDevice.Kind.CPU) {
                backends.add(Backend.open(device));
            }
            backends.add(Backend.cpu(threads));
            ModelWeights weights = ModelWeights.load(file, config, device, mmap, progress);
            return new Model(file, architecture, config, List.copyOf(backends), weights);
        } catch (RuntimeException e) {
            backends.forEach(Backend::close);
            file.close();
            throw e;
        }
    }

    /** The device the model computes on. */
    public BackendDevice device() {
        return backends.getFirst().device();
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

    /** A new evaluator with an F16 cache of {@code contextLength} tokens, taking micro-batches of up to {@code maxBatch}. */
    public Evaluator newEvaluator(int contextLength, int maxBatch) {
        return newEvaluator(contextLength, maxBatch, GgmlType.F16);
    }

    /** A new evaluator whose KV cache holds {@code cacheType}: F16, F32 for exact comparisons, or Q8_0/Q4_0 to save memory. */
    public Evaluator newEvaluator(int contextLength, int maxBatch, GgmlType cacheType) {
        if (contextLength < 1 || maxBatch < 1) {
            throw new IllegalArgumentException("context length and batch size must be positive");
        }
        if (cacheType != GgmlType.F16 && cacheType != GgmlType.F32 && cacheType != GgmlType.Q8_0 && cacheType != GgmlType.Q4_0) {
            throw new IllegalArgumentException("the KV cache can be F16, F32, Q8_0 or Q4_0, not " + cacheType);
        }
        return new Evaluator(config, architecture.graphBuilder(), weights, backends, contextLength, maxBatch, cacheType);
    }

    @Override
    public void close() {
        weights.close();
        backends.forEach(Backend::close);
        file.close();
    }
}
