package dev.panllama.model;

import dev.panllama.ggml.BufferType;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;
import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufTensorInfo;
import dev.panllama.placement.WeightPlacement;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleConsumer;

/**
 * A model's weights as ggml tensors, loaded by walking its family's {@link WeightSpec} list. Their data
 * is the memory-mapped GGUF itself, except where {@link WeightPlacement} puts a weight in a buffer of
 * its own; the JVM heap holds none of it. Every tensor's shape is checked against the list before ggml
 * sees it, so a file that lies about shapes fails here with a message rather than in ggml. Closing frees
 * the ggml side; the mapping belongs to the {@link GgufFile}, which must outlive this.
 */
public final class ModelWeights implements AutoCloseable {

    private final List<GgmlContext> contexts;
    private final Map<String, Tensor> byName;
    private final Tensor output;
    private final List<LayerWeights> layers;
    private final Map<String, Long> bytesByBuffer;
    private final Map<String, String> bufferOfWeight;
    private final long mappedBytes;

    /** What {@link #bufferOfWeight()} says of a weight that stays in the memory-mapped file. */
    public static final String MAPPED = "mapped";

    private ModelWeights(List<GgmlContext> contexts, Map<String, Tensor> byName, Tensor output, int layerCount,
                         Map<String, Long> bytesByBuffer, Loader loader) {
        this.contexts = contexts;
        this.byName = byName;
        this.output = output;
        this.layers = new ArrayList<>();
        for (int i = 0; i < layerCount; i++) {
            layers.add(LayerWeights.of(i, byName));
        }
        this.bytesByBuffer = Map.copyOf(bytesByBuffer);
        this.bufferOfWeight = Map.copyOf(loader.bufferOfWeight);
        this.mappedBytes = loader.mappedBytes;
    }

    /**
     * Loads the weights {@code weights} lists from {@code file}, each where {@code placement} says,
     * telling {@code progress} the fraction of copied bytes done.
     */
    public static ModelWeights load(GgufFile file, List<WeightSpec> weights, int layers, WeightPlacement placement,
                                    DoubleConsumer progress) {
        return declare(file, weights, layers, placement, loader -> loader.place(progress));
    }

    /**
     * The weights {@code weights} lists, each placed where {@code placement} says but given no memory
     * and no data ({@link GgmlContext#placeWithoutMemory}): for measuring, by building graphs over them,
     * what a placement would take. {@link #bytesByBuffer()} says what loading would copy where.
     */
    public static ModelWeights placeWithoutMemory(GgufFile file, List<WeightSpec> weights, int layers, WeightPlacement placement) {
        return declare(file, weights, layers, placement, Loader::placeWithoutMemory);
    }

    private static ModelWeights declare(GgufFile file, List<WeightSpec> weights, int layers, WeightPlacement placement,
                                        java.util.function.Function<Loader, Map<String, Long>> place) {
        Loader loader = new Loader(file, placement, weights.size() + 8);
        try {
            Map<String, Tensor> byName = new LinkedHashMap<>();
            WeightSpec outputSpec = null;
            for (WeightSpec spec : weights) {
                if (spec.tensor() == TensorName.OUTPUT) {
                    outputSpec = spec;
                }
                if (spec.optional() && file.findTensor(spec.name()).isEmpty()) {
                    continue;
                }
                byName.put(spec.name(), loader.declare(spec.name(), spec));
            }
            // A tied output head reads the embedding's data, as a tensor of its own so that it can be
            // placed for multiplication (llama.cpp does the same).
            Tensor output = byName.containsKey(TensorName.OUTPUT.of()) || outputSpec == null
                    ? byName.get(TensorName.OUTPUT.of())
                    : loader.declare(TensorName.TOKEN_EMBD.of(), outputSpec);
            Map<String, Long> bytes = place.apply(loader);
            return new ModelWeights(loader.contexts(), byName, output, layers, bytes, loader);
        } catch (RuntimeException e) {
            loader.contexts().forEach(GgmlContext::close);
            throw e;
        }
    }

    /**
     * Declares tensors in ggml contexts, one for the mapped file and one per buffer type the placement
     * names, and remembers where each one's data lies in the file.
     */
    private static final class Loader {
        final GgufFile file;
        final WeightPlacement placement;
        final int capacity;
        final GgmlContext mapped;
        final Map<BufferType, GgmlContext> copied = new LinkedHashMap<>();
        final Map<Integer, Map<Tensor, Long>> offsetsByPart = new HashMap<>();
        final Map<Tensor, GgufTensorInfo> sources = new LinkedHashMap<>();
        final Map<String, String> bufferOfWeight = new LinkedHashMap<>();
        long mappedBytes;

        Loader(GgufFile file, WeightPlacement placement, int capacity) {
            this.file = file;
            this.placement = placement;
            this.capacity = capacity;
            this.mapped = GgmlContext.create(capacity);
        }

        List<GgmlContext> contexts() {
            List<GgmlContext> all = new ArrayList<>(copied.values());
            all.add(mapped);
            return all;
        }

        /** A tensor for the file's tensor {@code name}, checked against {@code spec}. */
        Tensor declare(String name, WeightSpec spec) {
            GgufTensorInfo info = file.findTensor(name)
                    .orElseThrow(() -> new GgufException(file.parts().getFirst() + ": missing tensor " + name));
            long[] shape = spec.shape();
            long[] actual = info.shape();
            long[] padded = Arrays.copyOf(actual, shape.length);
            for (int i = actual.length; i < shape.length; i++) {
                padded[i] = 1;
            }
            if (actual.length > shape.length || !Arrays.equals(padded, shape)) {
                throw new GgufException(file.parts().getFirst() + ": tensor " + name + " has shape " + Arrays.toString(actual)
                        + ", the model's hyperparameters need " + Arrays.toString(shape));
            }
            if (spec.use() == WeightSpec.Use.ELEMENTWISE && info.type() != GgmlType.F32) {
                throw new GgufException(file.parts().getFirst() + ": tensor " + name + " must be F32, not " + info.type());
            }
            var buffer = placement.bufferFor(name, spec, info.type(), shape);
            if (buffer.isEmpty()) {
                Tensor tensor = mapped.newTensor(info.type(), shape).name(name);
                offsetsByPart.computeIfAbsent(info.part(), p -> new LinkedHashMap<>()).put(tensor, file.fileOffset(info));
                bufferOfWeight.put(spec.name(), MAPPED);
                mappedBytes += info.byteSize();
                return tensor;
            }
            Tensor tensor = copied.computeIfAbsent(buffer.get(), t -> GgmlContext.create(capacity)).newTensor(info.type(), shape).name(name);
            sources.put(tensor, info);
            bufferOfWeight.put(spec.name(), buffer.get().name());
            return tensor;
        }

        /** Places every tensor without memory; returns the bytes loading would copy per buffer type. */
        Map<String, Long> placeWithoutMemory() {
            if (!offsetsByPart.isEmpty()) {
                mapped.placeWithoutMemory(placement.cpu().bufferType(), true);
            }
            Map<String, Long> bytes = new LinkedHashMap<>();
            copied.forEach((type, context) -> bytes.merge(type.name(), context.placeWithoutMemory(type, true), Long::sum));
            return bytes;
        }

        /** Maps the file-backed tensors in place and copies the others into their buffers; returns bytes copied per buffer type. */
        Map<String, Long> place(DoubleConsumer progress) {
            offsetsByPart.forEach((part, offsets) -> mapped.placeInHostMemory(placement.cpu(), file.mapping(part), offsets));
            Map<String, Long> bytes = new LinkedHashMap<>();
            for (var entry : copied.entrySet()) {
                bytes.merge(entry.getKey().name(), entry.getValue().allocate(entry.getKey()), Long::sum);
            }
            long total = sources.values().stream().mapToLong(GgufTensorInfo::byteSize).sum();
            long written = 0;
            for (var entry : sources.entrySet()) {
                entry.getKey().write(file.data(entry.getValue()));
                written += entry.getValue().byteSize();
                progress.accept(total == 0 ? 1 : written / (double) total);
            }
            progress.accept(1);
            return bytes;
        }
    }

    public Tensor tokenEmbedding() {
        return byName.get(TensorName.TOKEN_EMBD.of());
    }

    public Tensor outputNorm() {
        return byName.get(TensorName.OUTPUT_NORM.of());
    }

    /** The output head: its own tensor, or the embedding's data when tied. */
    public Tensor output() {
        return output;
    }

    /** F32 {@code [rope_dims / 2]}, or null when the file has none. */
    public Tensor ropeFactors() {
        return byName.get(TensorName.ROPE_FREQS.of());
    }

    public LayerWeights layer(int i) {
        return layers.get(i);
    }

    /** Bytes of weights in each buffer type outside the mapped file, by the type's name. */
    public Map<String, Long> bytesByBuffer() {
        return bytesByBuffer;
    }

    /**
     * Where each weight lives, by the name its model family gives it: the buffer type's name, or
     * {@link #MAPPED}. A tied output head is the family's output weight, though it reads the embedding.
     */
    public Map<String, String> bufferOfWeight() {
        return bufferOfWeight;
    }

    /** Bytes of weights left in the memory-mapped file. */
    public long mappedBytes() {
        return mappedBytes;
    }

    /** Bytes of weights held outside the mapped file: converted for faster kernels, or on a GPU. */
    public long repackedBytes() {
        return bytesByBuffer.values().stream().mapToLong(Long::longValue).sum();
    }

    @Override
    public void close() {
        contexts.forEach(GgmlContext::close);
    }
}
