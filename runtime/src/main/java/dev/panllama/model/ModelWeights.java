package dev.panllama.model;

import dev.panllama.ggml.BackendDevice;
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
 * A model's weights as ggml tensors whose data is the memory-mapped GGUF itself: nothing is copied,
 * the JVM heap holds none of it. Every tensor's shape is checked against the configuration before
 * ggml sees it, so a file that lies about shapes fails here with a message rather than in ggml.
 * Closing frees the ggml side; the mapping belongs to the {@link GgufFile}, which must outlive this.
 */
public final class ModelWeights implements AutoCloseable {

    private final GgmlContext context;
    private final Tensor tokenEmbedding;   // [n_embd, n_vocab]
    private final Tensor outputNorm;       // F32 [n_embd]
    private final Tensor output;           // [n_embd, n_vocab], the embedding itself when tied
    private final Tensor ropeFactors;      // F32 [rope_dims / 2], or null
    private final List<LayerWeights> layers;

    private ModelWeights(GgmlContext context, Tensor tokenEmbedding, Tensor outputNorm, Tensor output,
                         Tensor ropeFactors, List<LayerWeights> layers) {
        this.context = context;
        this.tokenEmbedding = tokenEmbedding;
        this.outputNorm = outputNorm;
        this.output = output;
        this.ropeFactors = ropeFactors;
        this.layers = layers;
    }

    public static ModelWeights load(GgufFile file, ModelConfig config, BackendDevice device) {
        Loader loader = new Loader(file, config.layers() * 16 + 8);
        try {
            long n = config.embedding();
            Tensor embedding = loader.require(TensorName.TOKEN_EMBD.of(), n, config.vocabSize());
            Tensor outputNorm = loader.requireF32(TensorName.OUTPUT_NORM.of(), n);
            Tensor output = file.findTensor(TensorName.OUTPUT.of()).isPresent()
                    ? loader.require(TensorName.OUTPUT.of(), n, config.vocabSize())
                    : embedding;
            Tensor ropeFactors = file.findTensor(TensorName.ROPE_FREQS.of()).isPresent()
                    ? loader.requireF32(TensorName.ROPE_FREQS.of(), config.ropeDimensions() / 2) : null;
            List<LayerWeights> layers = new ArrayList<>();
            for (int i = 0; i < config.layers(); i++) {
                layers.add(loader.layer(config, i));
            }
            loader.place(device);
            return new ModelWeights(loader.context, embedding, outputNorm, output, ropeFactors, List.copyOf(layers));
        } catch (RuntimeException e) {
            loader.context.close();
            throw e;
        }
    }

    /** Declares tensors in a ggml context and remembers where each one's data lies in the file. */
    private static final class Loader {
        final GgufFile file;
        final GgmlContext context;
        final Map<Integer, Map<Tensor, Long>> placements = new HashMap<>();

        Loader(GgufFile file, int maxTensors) {
            this.file = file;
            this.context = GgmlContext.create(maxTensors);
        }

        Tensor require(String name, long... shape) {
            GgufTensorInfo info = file.findTensor(name)
                    .orElseThrow(() -> new GgufException(file.parts().getFirst() + ": missing tensor " + name));
            long[] actual = info.shape();
            long[] expected = shape;
            long[] padded = Arrays.copyOf(actual, expected.length);
            for (int i = actual.length; i < expected.length; i++) {
                padded[i] = 1;
            }
            if (actual.length > expected.length || !Arrays.equals(padded, expected)) {
                throw new GgufException(file.parts().getFirst() + ": tensor " + name + " has shape " + Arrays.toString(actual)
                        + ", the model's hyperparameters need " + Arrays.toString(expected));
            }
            Tensor tensor = context.newTensor(info.type(), expected).name(name);
            placements.computeIfAbsent(info.part(), p -> new LinkedHashMap<>()).put(tensor, file.fileOffset(info));
            return tensor;
        }

        Tensor requireF32(String name, long... shape) {
            Tensor tensor = require(name, shape);
            if (tensor.type() != GgmlType.F32) {
                throw new GgufException(file.parts().getFirst() + ": tensor " + name + " must be F32, not " + tensor.type());
            }
            return tensor;
        }


        LayerWeights layer(ModelConfig config, int i) {
            long n = config.embedding();
            Tensor attnNorm = requireF32(TensorName.ATTN_NORM.of(i), n);
            Tensor wq = require(TensorName.ATTN_Q.of(i), n, config.queryWidth());
            Tensor wk = require(TensorName.ATTN_K.of(i), n, config.kvWidth());
            Tensor wv = require(TensorName.ATTN_V.of(i), n, config.kvWidth());
            Tensor wo = require(TensorName.ATTN_OUT.of(i), config.queryWidth(), n);
            Tensor ffnNorm = requireF32(TensorName.FFN_NORM.of(i), n);
            if (!config.isMoe(i)) {
                long ff = config.feedForward();
                return new LayerWeights(attnNorm, wq, wk, wv, wo, ffnNorm,
                        require(TensorName.FFN_GATE.of(i), n, ff), require(TensorName.FFN_UP.of(i), n, ff),
                        require(TensorName.FFN_DOWN.of(i), ff, n), null, null, null, null, null, null, null);
            }
            long ff = config.expertFeedForward();
            long e = config.experts();
            Tensor router = require(TensorName.FFN_GATE_INP.of(i), n, e);
            Tensor gate = require(TensorName.FFN_GATE_EXPS.of(i), n, ff, e);
            Tensor up = require(TensorName.FFN_UP_EXPS.of(i), n, ff, e);
            Tensor down = require(TensorName.FFN_DOWN_EXPS.of(i), ff, n, e);
            Tensor sharedGate = null, sharedUp = null, sharedDown = null;
            if (config.sharedExpert()) {
                sharedGate = require(TensorName.FFN_GATE_SHEXP.of(i), n, ff);
                sharedUp = require(TensorName.FFN_UP_SHEXP.of(i), n, ff);
                sharedDown = require(TensorName.FFN_DOWN_SHEXP.of(i), ff, n);
            }
            return new LayerWeights(attnNorm, wq, wk, wv, wo, ffnNorm, null, null, null,
                    router, gate, up, down, sharedGate, sharedUp, sharedDown);
        }

        void place(BackendDevice device) {
            placements.forEach((part, offsets) -> context.placeInHostMemory(device, file.mapping(part), offsets));
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

    @Override
    public void close() {
        context.close();
    }
}
