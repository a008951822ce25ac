package dev.panllama.model.demo;

import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Quantization;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufMetadata;
import dev.panllama.gguf.GgufValue;
import dev.panllama.gguf.GgufWriter;
import dev.panllama.model.Architecture;
import dev.panllama.model.ModelConfig;
import dev.panllama.model.ModelKey;
import dev.panllama.model.TensorRole;
import dev.panllama.model.WeightSpec;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.stream.LongStream;

/**
 * Writes a model with seeded random weights and a real tokenizer vocabulary (copied from a GGUF
 * vocabulary file such as llama.cpp's {@code models/ggml-vocab-llama-bpe.gguf}). Its tensors are the
 * ones the model family lists for the hyperparameters written ({@link Architecture#weights}), made one
 * at a time as the writer reaches them, so memory stays at one tensor whatever the model's size.
 */
public final class RandomModelWriter {

    private static final String[] TOKENIZER_KEYS = {
        "tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
        "tokenizer.ggml.scores", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
    };
    /** Strength of the per-expert feature in the embeddings and of the router's reading of it. */
    private static final float ROUTING_FEATURE = 3f;
    /** About how many values one block of rows holds when a tensor is made in parallel. */
    private static final long BLOCK_VALUES = 1 << 20;
    /** Spreads the blocks' seeds apart (the golden ratio's 64-bit fraction, as SplittableRandom's own gamma). */
    private static final long BLOCK_SEED_STRIDE = 0x9E3779B97F4A7C15L;
    /**
     * Strength of the embeddings' expert feature under a topic skew: strong enough that every layer's
     * router, not only the first, still reads the token's planted expert through what the layers before
     * added to the residual stream (at {@link #ROUTING_FEATURE} the skew faded from layer to layer).
     */
    private static final float TOPIC_FEATURE = 12f;

    private RandomModelWriter() {
    }

    public static void write(RandomModelSpec spec, Path vocabulary, Path target) throws IOException {
        write(spec, vocabulary, target, java.util.Map.of());
    }

    /** As {@link #write(RandomModelSpec, Path, Path)}, with {@code extra} metadata (a chat template, say). */
    public static void write(RandomModelSpec spec, Path vocabulary, Path target, java.util.Map<String, GgufValue> extra) throws IOException {
        write(spec, vocabulary, target, extra, false);
    }

    /**
     * The model's layout only: its metadata and tensors, every weight zeros left as a hole in the file
     * ({@link GgufWriter#zeroTensor}), so that a Scout-sized model can be planned ({@code info --plan})
     * on a machine without the disk or the hours to write its weights. It computes nothing meaningful.
     */
    public static void writeLayout(RandomModelSpec spec, Path vocabulary, Path target) throws IOException {
        write(spec, vocabulary, target, java.util.Map.of(), true);
    }

    private static void write(RandomModelSpec spec, Path vocabulary, Path target, java.util.Map<String, GgufValue> extra,
                              boolean layoutOnly) throws IOException {
        int vocabSize;
        GgufWriter writer = new GgufWriter();
        try (GgufFile vocab = GgufFile.open(vocabulary)) {
            GgufMetadata source = vocab.metadata();
            vocabSize = source.getArray("tokenizer.ggml.tokens").length();
            putHyperparameters(writer, spec, vocabSize);
            for (String key : TOKENIZER_KEYS) {
                source.find(key).ifPresent(value -> writer.put(key, value));
            }
        }
        writer.put("tokenizer.ggml.pre", spec.preTokenizer());
        writer.put("tokenizer.ggml.add_bos_token", GgufValue.ofBool(true));
        writer.put("tokenizer.ggml.add_eos_token", GgufValue.ofBool(false));
        extra.forEach(writer::put);
        putTensors(writer, spec, layoutOnly);
        writer.write(target);
    }

    private static void putHyperparameters(GgufWriter writer, RandomModelSpec spec, int vocabSize) {
        String arch = spec.architecture();
        writer.put(ModelKey.ARCHITECTURE.of(arch), arch)
                .put(ModelKey.NAME.of(arch), "panllama random " + arch + " seed " + spec.seed())
                .put(ModelKey.FILE_TYPE.of(arch), GgufValue.ofUint32(fileType(spec.weightType())))
                .put(ModelKey.VOCAB_SIZE.of(arch), GgufValue.ofUint32(vocabSize))
                .put(ModelKey.CONTEXT_LENGTH.of(arch), GgufValue.ofUint32(spec.contextLength()))
                .put(ModelKey.EMBEDDING_LENGTH.of(arch), GgufValue.ofUint32(spec.embedding()))
                .put(ModelKey.BLOCK_COUNT.of(arch), GgufValue.ofUint32(spec.layers()))
                .put(ModelKey.FEED_FORWARD_LENGTH.of(arch), GgufValue.ofUint32(spec.feedForward()))
                .put(ModelKey.HEAD_COUNT.of(arch), GgufValue.ofUint32(spec.heads()))
                .put(ModelKey.HEAD_COUNT_KV.of(arch), GgufValue.ofUint32(spec.kvHeads()))
                .put(ModelKey.KEY_LENGTH.of(arch), GgufValue.ofUint32(spec.headSize()))
                .put(ModelKey.VALUE_LENGTH.of(arch), GgufValue.ofUint32(spec.headSize()))
                .put(ModelKey.ROPE_DIMENSION_COUNT.of(arch), GgufValue.ofUint32(spec.headSize()))
                .put(ModelKey.ROPE_FREQ_BASE.of(arch), GgufValue.ofFloat32(spec.ropeBase()))
                .put(ModelKey.RMS_EPSILON.of(arch), GgufValue.ofFloat32(spec.rmsEpsilon()));
        if (spec.experts() > 0) {
            writer.put(ModelKey.EXPERT_COUNT.of(arch), GgufValue.ofUint32(spec.experts()))
                    .put(ModelKey.EXPERT_USED_COUNT.of(arch), GgufValue.ofUint32(spec.expertsUsed()))
                    .put(ModelKey.EXPERT_FEED_FORWARD_LENGTH.of(arch), GgufValue.ofUint32(spec.expertFeedForward()))
                    .put(ModelKey.INTERLEAVE_MOE_LAYER_STEP.of(arch), GgufValue.ofUint32(spec.moeLayerStep()));
        }
        if (spec.slidingWindow() >= 0) {
            writer.put(ModelKey.SLIDING_WINDOW.of(arch), GgufValue.ofUint32(spec.slidingWindow()));
        }
        if (spec.windowPattern() > 0) {
            writer.put(ModelKey.SLIDING_WINDOW_PATTERN.of(arch), GgufValue.ofUint32(spec.windowPattern()));
        }
    }

    /** llama.cpp's {@code general.file_type} for a model mostly of {@code type}. */
    private static int fileType(GgmlType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q4_1 -> 3;
            case Q8_0 -> 7;
            case Q5_0 -> 8;
            case Q5_1 -> 9;
            case Q2_K -> 10;
            case Q3_K -> 12;
            case Q4_K -> 15;
            case Q5_K -> 17;
            case Q6_K -> 18;
            case BF16 -> 32;
            default -> 1024;   // LLAMA_FTYPE_GUESSED: the converter did not say
        };
    }

    /** Every weight the model's family lists, in its order, made from the seed as the writer reaches it (or zeros). */
    private static void putTensors(GgufWriter writer, RandomModelSpec spec, boolean zeros) {
        Architecture architecture = Architecture.named(spec.architecture());
        ModelConfig config = architecture.configure(writer.metadata());
        for (WeightSpec weight : architecture.weights(config)) {
            boolean present = switch (weight.tensor()) {
                case ROPE_FREQS -> false;
                case OUTPUT -> !spec.tiedOutput();
                default -> true;
            };
            if (!present) {
                continue;
            }
            // Norms are F32, and so is the router, as llama-quantize leaves it.
            GgmlType type = weight.use() == WeightSpec.Use.ELEMENTWISE || weight.role() == TensorRole.ROUTER
                    ? GgmlType.F32 : spec.weightType();
            Init init = switch (weight.role()) {
                case NORM -> Init.NORM;
                case EMBEDDING -> Init.EMBEDDING;
                case ROUTER -> spec.separableRouting() ? Init.ROUTER : Init.DENSE;
                default -> Init.DENSE;
            };
            long[] shape = weight.shape();
            if (zeros) {
                writer.zeroTensor(weight.name(), type, shape);
                continue;
            }
            writer.tensor(weight.name(), type, shape, generated(spec, weight.name(), type, (int) shape[0],
                    shape.length > 1 ? (int) shape[1] : 1, shape.length > 2 ? (int) shape[2] : 1, init));
        }
    }

    private enum Init { DENSE, EMBEDDING, NORM, ROUTER }

    /**
     * One tensor's data, made when the writer asks for it: F32 values from the seed, then quantized.
     * Made in blocks of rows on all cores, each block from a generator of its own seeded by the tensor
     * and the block, so that the values do not depend on the threads: a Scout-sized tensor of several
     * GB is minutes of work for one core.
     */
    private static GgufWriter.TensorData generated(RandomModelSpec spec, String name, GgmlType type,
                                                   int rowLength, int rows, int matrices, Init init) {
        return out -> {
            long totalRows = (long) rows * matrices;
            long blockRows = Math.max(1, Math.min(totalRows, BLOCK_VALUES / rowLength));
            long blocks = (totalRows + blockRows - 1) / blockRows;
            long rowBytes = type.rowBytes(rowLength);
            long tensorSeed = spec.seed() * 1_000_003L + name.hashCode();
            try (Arena arena = Arena.ofShared()) {
                MemorySegment data = arena.allocate(totalRows * rowBytes, Long.BYTES);
                LongStream.range(0, blocks).parallel().forEach(block -> {
                    long first = block * blockRows;
                    long count = Math.min(blockRows, totalRows - first);
                    MemorySegment target = data.asSlice(first * rowBytes, count * rowBytes);
                    SplittableRandom random = new SplittableRandom(tensorSeed ^ (block * BLOCK_SEED_STRIDE));
                    if (type == GgmlType.F32) {
                        fill(target, spec, init, rowLength, rows, first, count, random);
                        return;
                    }
                    try (Arena scratch = Arena.ofConfined()) {
                        MemorySegment values = scratch.allocate(ValueLayout.JAVA_FLOAT, count * rowLength);
                        fill(values, spec, init, rowLength, rows, first, count, random);
                        Quantization.quantize(type, values, count, rowLength, target);
                    }
                });
                GgufWriter.TensorData.of(data).writeTo(out);
            }
        };
    }

    /**
     * Rows {@code first} to {@code first + count} of a tensor of {@code rows} rows a matrix as {@code init}
     * makes them, into {@code values}.
     */
    private static void fill(MemorySegment values, RandomModelSpec spec, Init init, int rowLength, int rows, long first, long count,
                             SplittableRandom random) {
        double scale = 1 / Math.sqrt(rowLength);
        for (long r = 0; r < count; r++) {
            long row = first + r;
            for (int column = 0; column < rowLength; column++) {
                float value = switch (init) {
                    case NORM -> (float) (1 + 0.1 * random.nextGaussian());
                    case DENSE -> (float) (random.nextGaussian() * scale);
                    case EMBEDDING -> (float) (random.nextGaussian() * 0.5
                            + (spec.separableRouting() ? routingFeature(spec, row, rows, column) : 0));
                    case ROUTER -> (float) (random.nextGaussian() * scale * 0.1
                            + (column == row ? ROUTING_FEATURE : 0));
                };
                values.setAtIndex(ValueLayout.JAVA_FLOAT, r * rowLength + column, value);
            }
        }
    }

    /**
     * Token {@code token} (of {@code vocabulary}) carries feature strength on two expert dimensions: its
     * first choice strongly, its second less, so that top-1 and top-2 routing both have clear margins.
     */
    private static double routingFeature(RandomModelSpec spec, long token, int vocabulary, int column) {
        int experts = spec.experts();
        if (experts == 0 || column >= experts) {
            return 0;
        }
        boolean topics = spec.topicSkew() > 0;
        int first = topics ? topicExpert(spec, token, vocabulary) : (int) (token % experts);
        int second = experts < 2 ? -1 : (int) ((first + 1 + (token / experts) % (experts - 1)) % experts);
        float strength = topics ? TOPIC_FEATURE : ROUTING_FEATURE;
        return column == first ? strength : column == second ? strength / 2 : 0;
    }

    /**
     * The first choice of {@code token} under {@link RandomModelSpec#topicSkew()}: rank r among the
     * experts drawn (from the seed and the token) with probability proportional to {@code 1 / (r + 1)^s};
     * rank r is expert r in the first half of the vocabulary, expert {@code n_expert - 1 - r} in the second.
     */
    private static int topicExpert(RandomModelSpec spec, long token, int vocabulary) {
        int experts = spec.experts();
        double[] cumulative = new double[experts];
        double total = 0;
        for (int r = 0; r < experts; r++) {
            total += 1 / Math.pow(r + 1, spec.topicSkew());
            cumulative[r] = total;
        }
        double draw = new SplittableRandom(spec.seed() * 7_919L + token).nextDouble() * total;
        int rank = 0;
        while (rank < experts - 1 && cumulative[rank] <= draw) {
            rank++;
        }
        return token < vocabulary / 2 ? rank : experts - 1 - rank;
    }
}
