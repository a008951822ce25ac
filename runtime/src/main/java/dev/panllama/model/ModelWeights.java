package dev.panllama.model;

import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.BufferType;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;
import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufTensorInfo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's weights as ggml tensors. Their data is the memory-mapped GGUF itself, except for weights
 * a repacking buffer type takes (see {@link #load}); the JVM heap holds none of it. Every tensor's shape is checked against the configuration before
 * ggml sees it, so a file that lies about shapes fails here with a message rather than in ggml.
 * Closing frees the ggml side; the mapping belongs to the {@link GgufFile}, which must outlive this.
 */
public final class ModelWeights implements AutoCloseable {

    /** How the graph uses a weight: what decides whether a repacking buffer type can hold it. */
    enum Use { GET_ROWS, MUL_MAT, MUL_MAT_ID, ELEMENTWISE }

    private final List<GgmlContext> contexts;
    private final Tensor tokenEmbedding;   // [n_embd, n_vocab]
    private final Tensor outputNorm;       // F32 [n_embd]
    private final Tensor output;           // [n_embd, n_vocab]; the embedding's data when tied
    private final Tensor ropeFactors;      // F32 [rope_dims / 2], or null
    private final List<LayerWeights> layers;
    private final long repackedBytes;

    private ModelWeights(List<GgmlContext> contexts, Tensor tokenEmbedding, Tensor outputNorm, Tensor output,
                         Tensor ropeFactors, List<LayerWeights> layers, long repackedBytes) {
        this.contexts = contexts;
        this.tokenEmbedding = tokenEmbedding;
        this.outputNorm = outputNorm;
        this.output = output;
        this.ropeFactors = ropeFactors;
        this.layers = layers;
        this.repackedBytes = repackedBytes;
    }

    /**
     * Loads the weights of {@code config} from {@code file} for {@code device}. Weights that the
     * device's repacking buffer types can hold (matrices multiplied by activations, in types such as
     * Q4_0 and Q4_K) are copied into them, converted for its faster kernels, as llama.cpp does; all
     * others stay in the mapped file, or with {@code mmap} false are read into the device's memory.
     */
    public static ModelWeights load(GgufFile file, ModelConfig config, BackendDevice device, boolean mmap) {
        return load(file, config, device, mmap, fraction -> { });
    }

    /** As {@link #load(GgufFile, ModelConfig, BackendDevice, boolean)}, telling {@code progress} the fraction done. */
    public static ModelWeights load(GgufFile file, ModelConfig config, BackendDevice device, boolean mmap,
                                    java.util.function.DoubleConsumer progress) {
        Loader loader = new Loader(file, config, device, mmap, config.layers() * 16 + 8);
        try {
            long n = config.embedding();
            Tensor embedding = loader.require(TensorName.TOKEN_EMBD.of(), Use.GET_ROWS, n, config.vocabSize());
            Tensor outputNorm = loader.requireF32(TensorName.OUTPUT_NORM.of(), n);
            // A tied output head reads the embedding's data, as a tensor of its own so that it can be
            // placed for multiplication (llama.cpp does the same).
            String outputName = file.findTensor(TensorName.OUTPUT.of()).isPresent() ? TensorName.OUTPUT.of() : TensorName.TOKEN_EMBD.of();
            Tensor output = loader.require(outputName, Use.MUL_MAT, n, config.vocabSize());
            Tensor ropeFactors = file.findTensor(TensorName.ROPE_FREQS.of()).isPresent()
                    ? loader.requireF32(TensorName.ROPE_FREQS.of(), config.ropeDimensions() / 2) : null;
            List<LayerWeights> layers = new ArrayList<>();
            for (int i = 0; i < config.layers(); i++) {
                layers.add(loader.layer(config, i));
            }
            long repacked = loader.place(device, progress);
            return new ModelWeights(loader.contexts(), embedding, outputNorm, output, ropeFactors, List.copyOf(layers), repacked);
        } catch (RuntimeException e) {
            loader.contexts().forEach(GgmlContext::close);
            throw e;
        }
    }

    /**
     * Declares tensors in ggml contexts, one for the mapped file and one per repacking buffer type,
     * and remembers where each one's data lies in the file.
     */
    private static final class Loader {
        final GgufFile file;
        final ModelConfig config;
        final BackendDevice device;
        final List<BufferType> repacking;
        final boolean copyAll;
        final int capacity;
        final GgmlContext mapped;
        final Map<BufferType, GgmlContext> repacked = new LinkedHashMap<>();
        final Map<Integer, Map<Tensor, Long>> placements = new HashMap<>();
        final Map<Tensor, GgufTensorInfo> sources = new LinkedHashMap<>();

        Loader(GgufFile file, ModelConfig config, BackendDevice device, boolean mmap, int capacity) {
            this.file = file;
            this.config = config;
            this.device = device;
            // Repacking is the CPU's; a GPU takes every weight into its own memory.
            boolean cpu = device.kind() == BackendDevice.Kind.CPU;
            this.repacking = cpu ? device.usableExtraBufferTypes() : List.of();
            this.copyAll = !cpu || !mmap;
            this.capacity = capacity;
            this.mapped = GgmlContext.create(capacity);
        }

        List<GgmlContext> contexts() {
            List<GgmlContext> all = new ArrayList<>(repacked.values());
            all.add(mapped);
            return all;
        }

        Tensor require(String name, Use use, long... shape) {
            GgufTensorInfo info = file.findTensor(name)
                    .orElseThrow(() -> new GgufException(file.parts().getFirst() + ": missing tensor " + name));
            long[] actual = info.shape();
            long[] padded = Arrays.copyOf(actual, shape.length);
            for (int i = actual.length; i < shape.length; i++) {
                padded[i] = 1;
            }
            if (actual.length > shape.length || !Arrays.equals(padded, shape)) {
                throw new GgufException(file.parts().getFirst() + ": tensor " + name + " has shape " + Arrays.toString(actual)
                        + ", the model's hyperparameters need " + Arrays.toString(shape));
            }
            BufferType repackInto = repackingFor(info.type(), shape, use);
            if (repackInto == null && copyAll) {
                repackInto = device.bufferType();
            }
            if (repackInto == null) {
                Tensor tensor = mapped.newTensor(info.type(), shape).name(name);
                placements.computeIfAbsent(info.part(), p -> new LinkedHashMap<>()).put(tensor, file.fileOffset(info));
                return tensor;
            }
            Tensor tensor = repacked.computeIfAbsent(repackInto, t -> GgmlContext.create(capacity)).newTensor(info.type(), shape).name(name);
            sources.put(tensor, info);
            return tensor;
        }

        Tensor requireF32(String name, long... shape) {
            Tensor tensor = require(name, Use.ELEMENTWISE, shape);
            if (tensor.type() != GgmlType.F32) {
                throw new GgufException(file.parts().getFirst() + ": tensor " + name + " must be F32, not " + tensor.type());
            }
            return tensor;
        }

        /** The first repacking buffer type that can hold a weight so used, or null. */
        private BufferType repackingFor(GgmlType type, long[] shape, Use use) {
            if (use != Use.MUL_MAT && use != Use.MUL_MAT_ID) {
                return null;
            }
            for (BufferType candidate : repacking) {
                try (GgmlContext probe = GgmlContext.create(8)) {
                    Tensor weight = probe.newTensor(type, shape);
                    Tensor op;
                    if (use == Use.MUL_MAT) {
                        op = probe.mulMat(weight, probe.newTensor(GgmlType.F32, shape[0], 512, weight.ne(2), weight.ne(3)));
                    } else {
                        int used = config.expertsUsed();
                        op = probe.mulMatId(weight, probe.newTensor(GgmlType.F32, shape[0], used, 512),
                                probe.newTensor(GgmlType.I32, used, 512));
                    }
                    if (candidate.supportsWeight(device, weight, op)) {
                        return candidate;
                    }
                }
            }
            return null;
        }

        LayerWeights layer(ModelConfig config, int i) {
            long n = config.embedding();
            Tensor attnNorm = requireF32(TensorName.ATTN_NORM.of(i), n);
            Tensor wq = require(TensorName.ATTN_Q.of(i), Use.MUL_MAT, n, config.queryWidth());
            Tensor wk = require(TensorName.ATTN_K.of(i), Use.MUL_MAT, n, config.kvWidth());
            Tensor wv = require(TensorName.ATTN_V.of(i), Use.MUL_MAT, n, config.kvWidth());
            Tensor wo = require(TensorName.ATTN_OUT.of(i), Use.MUL_MAT, config.queryWidth(), n);
            Tensor ffnNorm = requireF32(TensorName.FFN_NORM.of(i), n);
            if (!config.isMoe(i)) {
                long ff = config.feedForward();
                return new LayerWeights(attnNorm, wq, wk, wv, wo, ffnNorm,
                        require(TensorName.FFN_GATE.of(i), Use.MUL_MAT, n, ff), require(TensorName.FFN_UP.of(i), Use.MUL_MAT, n, ff),
                        require(TensorName.FFN_DOWN.of(i), Use.MUL_MAT, ff, n), null, null, null, null, null, null, null);
            }
            long ff = config.expertFeedForward();
            long e = config.experts();
            Tensor router = require(TensorName.FFN_GATE_INP.of(i), Use.MUL_MAT, n, e);
            Tensor gate = require(TensorName.FFN_GATE_EXPS.of(i), Use.MUL_MAT_ID, n, ff, e);
            Tensor up = require(TensorName.FFN_UP_EXPS.of(i), Use.MUL_MAT_ID, n, ff, e);
            Tensor down = require(TensorName.FFN_DOWN_EXPS.of(i), Use.MUL_MAT_ID, ff, n, e);
            Tensor sharedGate = null, sharedUp = null, sharedDown = null;
            if (config.sharedExpert()) {
                sharedGate = require(TensorName.FFN_GATE_SHEXP.of(i), Use.MUL_MAT, n, ff);
                sharedUp = require(TensorName.FFN_UP_SHEXP.of(i), Use.MUL_MAT, n, ff);
                sharedDown = require(TensorName.FFN_DOWN_SHEXP.of(i), Use.MUL_MAT, ff, n);
            }
            return new LayerWeights(attnNorm, wq, wk, wv, wo, ffnNorm, null, null, null,
                    router, gate, up, down, sharedGate, sharedUp, sharedDown);
        }

        /** Maps the file-backed tensors in place and copies the others into their buffers; returns bytes copied. */
        long place(BackendDevice device, java.util.function.DoubleConsumer progress) {
            placements.forEach((part, offsets) -> mapped.placeInHostMemory(device, file.mapping(part), offsets));
            long copied = 0;
            for (var entry : repacked.entrySet()) {
                copied += entry.getValue().allocate(entry.getKey());
            }
            long total = sources.values().stream().mapToLong(GgufTensorInfo::byteSize).sum();
            long written = 0;
            for (var entry : sources.entrySet()) {
                entry.getKey().write(file.data(entry.getValue()));
                written += entry.getValue().byteSize();
                progress.accept(total == 0 ? 1 : written / (double) total);
            }
            progress.accept(1);
            return copied;
        }
    }

    public Tensor tokenEmbedding() {
        return tokenEmbedding;
    }

    public Tensor outputNorm() {
        return outputNorm;
    }

    public Tensor output() {
        return output;
    }

    public Tensor ropeFactors() {
        return ropeFactors;
    }

    public LayerWeights layer(int i) {
        return layers.get(i);
    }

    /** Bytes of weights held outside the mapped file, converted for faster kernels. */
    public long repackedBytes() {
        return repackedBytes;
    }

    @Override
    public void close() {
        contexts.forEach(GgmlContext::close);
    }
}
