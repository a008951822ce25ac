package dev.panllama.model;

import dev.panllama.ggml.Backend;
import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufMetadata;

import java.nio.file.Path;

/**
 * An open model: its GGUF mapped, its configuration read, its weights placed for ggml, a backend to
 * compute on. Evaluators made from it share all of that; closing the model closes the backend and
 * unmaps the file, after which its evaluators refuse use.
 */
public final class Model implements AutoCloseable {

    private final GgufFile file;
    private final Architecture architecture;
    private final ModelConfig config;
    private final Backend backend;
    private final ModelWeights weights;

    private Model(GgufFile file, Architecture architecture, ModelConfig config, Backend backend, ModelWeights weights) {
        this.file = file;
        this.architecture = architecture;
        this.config = config;
        this.backend = backend;
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
        GgufFile file = GgufFile.open(path);
        Backend backend = null;
        try {
            Architecture architecture = Architecture.of(file.metadata());
            ModelConfig config = architecture.configure(file.metadata());
            backend = Backend.cpu(threads);
            ModelWeights weights = ModelWeights.load(file, config, BackendDevice.cpu(), mmap, progress);
            return new Model(file, architecture, config, backend, weights);
        } catch (RuntimeException e) {
            if (backend != null) {
                backend.close();
            }
            file.close();
            throw e;
        }
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

    /** A new evaluator whose KV cache holds {@code cacheType} (F16, or Q8_0/Q4_0 to save memory). */
    public Evaluator newEvaluator(int contextLength, int maxBatch, GgmlType cacheType) {
        if (contextLength < 1 || maxBatch < 1) {
            throw new IllegalArgumentException("context length and batch size must be positive");
        }
        if (cacheType != GgmlType.F16 && cacheType != GgmlType.Q8_0 && cacheType != GgmlType.Q4_0) {
            throw new IllegalArgumentException("the KV cache can be F16, Q8_0 or Q4_0, not " + cacheType);
        }
        return new Evaluator(config, architecture.graphBuilder(), weights, backend, contextLength, maxBatch, cacheType);
    }

    @Override
    public void close() {
        weights.close();
        backend.close();
        file.close();
    }
}
