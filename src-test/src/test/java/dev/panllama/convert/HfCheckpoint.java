package dev.panllama.convert;

import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufMetadata;
import dev.panllama.json.JsonWriter;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A small Hugging Face checkpoint with seeded random weights, written as transformers lays it out:
 * safetensors shards (with an index when there are several), config.json, and a tokenizer.json and
 * tokenizer_config.json made from a pinned llama.cpp vocabulary (llama-bpe, Llama 3's tokenizer).
 * The weights stay in memory, rounded to the checkpoint's dtype, for a test's own forward pass.
 */
public final class HfCheckpoint {

    /** Llama 3's pre-tokenizer regex, as its tokenizer.json has it. */
    static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Llama 4's (GPT-4o's) pre-tokenizer regex, as its tokenizer.json has it. */
    static final String LLAMA4_REGEX = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
            + "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
            + "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /**
     * What to write. {@code llama4}: a Llama4ForConditionalGeneration with a small vision tower beside
     * the language model; otherwise a LlamaForCausalLM. {@code dtype} is F32, F16 or BF16.
     */
    public record Spec(boolean llama4, int layers, int hidden, int heads, int kvHeads, int headDim, int feedForward,
                int experts, int expertsUsed, int expertFeedForward, int moeStep, String dtype, int shards,
                boolean ropeScaling, boolean tied, long seed) {
    }

    final Spec spec;
    final Map<String, Object> config;
    final int vocabSize;
    /** Every language-model weight by its name without the {@code language_model.} prefix, rounded to the dtype. */
    final Map<String, float[]> weights = new LinkedHashMap<>();
    private final Map<String, long[]> shapes = new LinkedHashMap<>();

    private HfCheckpoint(Spec spec, Map<String, Object> config, int vocabSize) {
        this.spec = spec;
        this.config = config;
        this.vocabSize = vocabSize;
    }

    public static HfCheckpoint write(Spec spec, Path vocabulary, Path directory) throws IOException {
        Files.createDirectories(directory);
        GgufMetadata vocab;
        try (GgufFile file = GgufFile.open(vocabulary)) {
            vocab = file.metadata();
        }
        int vocabSize = vocab.getArray("tokenizer.ggml.tokens").length();
        HfCheckpoint checkpoint = new HfCheckpoint(spec, config(spec, vocabSize), vocabSize);
        checkpoint.makeWeights();
        checkpoint.writeShards(directory);
        Files.writeString(directory.resolve("config.json"), JsonWriter.write(checkpoint.config));
        writeTokenizer(vocab, spec.llama4() ? LLAMA4_REGEX : LLAMA3_REGEX, directory);
        return checkpoint;
    }

    /** The settings a forward pass reads: the text model's (text_config's, for Llama 4). */
    @SuppressWarnings("unchecked")
    Map<String, Object> textConfig() {
        return spec.llama4() ? (Map<String, Object>) config.get("text_config") : config;
    }

    private static Map<String, Object> config(Spec spec, int vocabSize) {
        Map<String, Object> text = new LinkedHashMap<>();
        text.put("hidden_size", spec.hidden());
        text.put("num_hidden_layers", spec.layers());
        text.put("num_attention_heads", spec.heads());
        text.put("num_key_value_heads", spec.kvHeads());
        text.put("head_dim", spec.headDim());
        text.put("rms_norm_eps", 1e-5);
        text.put("rope_theta", 500000.0);
        text.put("max_position_embeddings", 131072);
        text.put("vocab_size", vocabSize);
        text.put("tie_word_embeddings", spec.tied());
        text.put("bos_token_id", 128000);
        text.put("eos_token_id", List.of(128001, 128008, 128009));
        if (spec.ropeScaling()) {
            text.put("rope_scaling", spec.llama4()
                    ? Map.of("rope_type", "llama3", "factor", 16.0, "low_freq_factor", 1.0, "high_freq_factor", 1.0,
                            "original_max_position_embeddings", 8192)
                    : Map.of("rope_type", "llama3", "factor", 8.0, "low_freq_factor", 1.0, "high_freq_factor", 4.0,
                            "original_max_position_embeddings", 8192));
        }
        if (!spec.llama4()) {
            text.put("architectures", List.of("LlamaForCausalLM"));
            text.put("model_type", "llama");
            text.put("intermediate_size", spec.feedForward());
            return text;
        }
        text.put("model_type", "llama4_text");
        text.put("intermediate_size", spec.expertFeedForward());
        text.put("intermediate_size_mlp", spec.feedForward());
        text.put("num_local_experts", spec.experts());
        text.put("num_experts_per_tok", spec.expertsUsed());
        text.put("interleave_moe_layer_step", spec.moeStep());
        text.put("use_qk_norm", true);
        text.put("attention_chunk_size", 8192);
        text.put("attn_temperature_tuning", true);
        text.put("floor_scale", 8192);
        text.put("attn_scale", 0.1);
        Map<String, Object> top = new LinkedHashMap<>();
        top.put("architectures", List.of("Llama4ForConditionalGeneration"));
        top.put("model_type", "llama4");
        top.put("text_config", text);
        top.put("vision_config", Map.of("hidden_size", 32, "num_hidden_layers", 1, "patch_size", 14));
        return top;
    }

    private void makeWeights() {
        SplittableRandom random = new SplittableRandom(spec.seed());
        int h = spec.hidden();
        int qRows = spec.heads() * spec.headDim();
        int kvRows = spec.kvHeads() * spec.headDim();
        add(random, "model.embed_tokens.weight", 1.0, vocabSize, h);
        for (int layer = 0; layer < spec.layers(); layer++) {
            String p = "model.layers." + layer + ".";
            addNorm(random, p + "input_layernorm.weight", h);
            add(random, p + "self_attn.q_proj.weight", Math.sqrt(3.0 / h), qRows, h);
            add(random, p + "self_attn.k_proj.weight", Math.sqrt(3.0 / h), kvRows, h);
            add(random, p + "self_attn.v_proj.weight", Math.sqrt(3.0 / h), kvRows, h);
            add(random, p + "self_attn.o_proj.weight", Math.sqrt(3.0 / qRows), h, qRows);
            addNorm(random, p + "post_attention_layernorm.weight", h);
            if (!spec.llama4()) {
                addFeedForward(random, p + "mlp.", spec.feedForward());
            } else if ((layer + 1) % spec.moeStep() != 0) {
                addFeedForward(random, p + "feed_forward.", spec.feedForward());
            } else {
                int e = spec.experts(), f = spec.expertFeedForward();
                add(random, p + "feed_forward.router.weight", Math.sqrt(3.0 / h) * 4, e, h);
                add(random, p + "feed_forward.experts.gate_up_proj", Math.sqrt(3.0 / h), e, h, 2L * f);
                add(random, p + "feed_forward.experts.down_proj", Math.sqrt(3.0 / f), e, f, h);
                addFeedForward(random, p + "feed_forward.shared_expert.", f);
            }
        }
        addNorm(random, "model.norm.weight", h);
        if (!spec.tied()) {
            add(random, "lm_head.weight", Math.sqrt(3.0 / h), vocabSize, h);
        }
    }

    private void addFeedForward(SplittableRandom random, String prefix, int width) {
        add(random, prefix + "gate_proj.weight", Math.sqrt(3.0 / spec.hidden()), width, spec.hidden());
        add(random, prefix + "up_proj.weight", Math.sqrt(3.0 / spec.hidden()), width, spec.hidden());
        add(random, prefix + "down_proj.weight", Math.sqrt(3.0 / width), spec.hidden(), width);
    }

    private void addNorm(SplittableRandom random, String name, int size) {
        float[] values = new float[size];
        for (int i = 0; i < size; i++) {
            values[i] = round((float) (1 + 0.2 * (random.nextDouble() * 2 - 1)));
        }
        weights.put(name, values);
        shapes.put(name, new long[] {size});
    }

    private void add(SplittableRandom random, String name, double scale, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] values = new float[Math.toIntExact(n)];
        for (int i = 0; i < values.length; i++) {
            values[i] = round((float) (scale * (random.nextDouble() * 2 - 1)));
        }
        weights.put(name, values);
        shapes.put(name, shape);
    }

    /** The value as the checkpoint's dtype stores it. */
    private float round(float value) {
        return switch (spec.dtype()) {
            case "F32" -> value;
            case "F16" -> Float.float16ToFloat(Float.floatToFloat16(value));
            case "BF16" -> {
                int bits = Float.floatToRawIntBits(value);
                bits += 0x7FFF + ((bits >>> 16) & 1);
                yield Float.intBitsToFloat(bits & 0xFFFF0000);
            }
            default -> throw new IllegalArgumentException(spec.dtype());
        };
    }

    /** Tensors spread over the shards in order; a vision tower beside a Llama 4's language model. */
    private void writeShards(Path directory) throws IOException {
        List<Map.Entry<String, float[]>> all = new ArrayList<>();
        String prefix = spec.llama4() ? "language_model." : "";
        weights.forEach((name, values) -> all.add(Map.entry(prefix + name, values)));
        Map<String, long[]> allShapes = new LinkedHashMap<>();
        shapes.forEach((name, shape) -> allShapes.put(prefix + name, shape));
        if (spec.llama4()) {
            SplittableRandom random = new SplittableRandom(spec.seed() + 1);
            for (String name : List.of("vision_model.patch_embedding.linear.weight", "multi_modal_projector.linear_1.weight")) {
                float[] values = new float[32 * 48];
                for (int i = 0; i < values.length; i++) {
                    values[i] = round((float) random.nextDouble());
                }
                all.add(Map.entry(name, values));
                allShapes.put(name, new long[] {32, 48});
            }
        }
        int shards = spec.shards();
        Map<String, String> index = new LinkedHashMap<>();
        int perShard = (all.size() + shards - 1) / shards;
        for (int s = 0; s < shards; s++) {
            String file = shards == 1 ? "model.safetensors" : String.format("model-%05d-of-%05d.safetensors", s + 1, shards);
            List<Map.Entry<String, float[]>> part = all.subList(s * perShard, Math.min(all.size(), (s + 1) * perShard));
            part.forEach(entry -> index.put(entry.getKey(), file));
            writeSafetensors(directory.resolve(file), part, allShapes);
        }
        if (shards > 1) {
            Files.writeString(directory.resolve("model.safetensors.index.json"),
                    JsonWriter.write(Map.of("metadata", Map.of("total_size", 0), "weight_map", index)));
        }
    }

    private void writeSafetensors(Path file, List<Map.Entry<String, float[]>> tensors, Map<String, long[]> shapes) throws IOException {
        int elementBytes = spec.dtype().equals("F32") ? 4 : 2;
        Map<String, Object> header = new LinkedHashMap<>();
        header.put("__metadata__", Map.of("format", "pt"));
        long offset = 0;
        for (Map.Entry<String, float[]> tensor : tensors) {
            long bytes = (long) tensor.getValue().length * elementBytes;
            List<Long> shape = new ArrayList<>();
            for (long d : shapes.get(tensor.getKey())) {
                shape.add(d);
            }
            header.put(tensor.getKey(), Map.of("dtype", spec.dtype(), "shape", shape, "data_offsets", List.of(offset, offset + bytes)));
            offset += bytes;
        }
        byte[] json = JsonWriter.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        try (OutputStream out = Files.newOutputStream(file)) {
            ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(length.array());
            out.write(json);
            out.write(" ".repeat(padded - json.length).getBytes(StandardCharsets.US_ASCII));
            for (Map.Entry<String, float[]> tensor : tensors) {
                float[] values = tensor.getValue();
                ByteBuffer data = ByteBuffer.allocate(values.length * elementBytes).order(ByteOrder.LITTLE_ENDIAN);
                for (float v : values) {
                    switch (spec.dtype()) {
                        case "F32" -> data.putFloat(v);
                        case "F16" -> data.putShort(Float.floatToFloat16(v));
                        default -> data.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
                    }
                }
                out.write(data.array());
            }
        }
    }

    /**
     * tokenizer.json and tokenizer_config.json as Llama 3's and 4's look, from the vocabulary GGUF's
     * tokens and merges, with the pre-tokenizer {@code regex}.
     */
    private static void writeTokenizer(GgufMetadata vocab, String regex, Path directory) throws IOException {
        String[] tokens = vocab.getArray("tokenizer.ggml.tokens").strings();
        int[] types = vocab.getArray("tokenizer.ggml.token_type").ints();
        Map<String, Object> model = new LinkedHashMap<>();
        Map<String, Object> ids = new LinkedHashMap<>();
        List<Object> added = new ArrayList<>();
        for (int id = 0; id < tokens.length; id++) {
            if (types[id] == 1) {
                ids.put(tokens[id], id);
            } else {
                Map<String, Object> token = new LinkedHashMap<>();
                token.put("id", id);
                token.put("content", tokens[id]);
                token.put("single_word", false);
                token.put("lstrip", false);
                token.put("rstrip", false);
                token.put("normalized", false);
                token.put("special", true);
                added.add(token);
            }
        }
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", true);
        model.put("vocab", ids);
        // The newer pair form, as transformers 4.45 and later write it.
        List<Object> merges = new ArrayList<>();
        for (String merge : vocab.getArray("tokenizer.ggml.merges").strings()) {
            int space = merge.indexOf(' ');
            merges.add(List.of(merge.substring(0, space), merge.substring(space + 1)));
        }
        model.put("merges", merges);
        String bos = tokens[vocab.getInt("tokenizer.ggml.bos_token_id")];
        Map<String, Object> tokenizer = new LinkedHashMap<>();
        tokenizer.put("version", "1.0");
        tokenizer.put("truncation", null);
        tokenizer.put("padding", null);
        tokenizer.put("added_tokens", added);
        tokenizer.put("normalizer", null);
        tokenizer.put("pre_tokenizer", Map.of("type", "Sequence", "pretokenizers", List.of(
                Map.of("type", "Split", "pattern", Map.of("Regex", regex), "behavior", "Isolated", "invert", false),
                Map.of("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", true, "use_regex", false))));
        tokenizer.put("post_processor", Map.of("type", "Sequence", "processors", List.of(
                Map.of("type", "ByteLevel", "add_prefix_space", true, "trim_offsets", false, "use_regex", true),
                Map.of("type", "TemplateProcessing",
                        "single", List.of(Map.of("SpecialToken", Map.of("id", bos, "type_id", 0)),
                                Map.of("Sequence", Map.of("id", "A", "type_id", 0))),
                        "pair", List.of(Map.of("SpecialToken", Map.of("id", bos, "type_id", 0)),
                                Map.of("Sequence", Map.of("id", "A", "type_id", 0)),
                                Map.of("SpecialToken", Map.of("id", bos, "type_id", 1)),
                                Map.of("Sequence", Map.of("id", "B", "type_id", 1)))))));
        tokenizer.put("decoder", Map.of("type", "ByteLevel", "add_prefix_space", true, "trim_offsets", true, "use_regex", true));
        tokenizer.put("model", model);
        Files.writeString(directory.resolve("tokenizer.json"), JsonWriter.write(tokenizer));

        Map<String, Object> tokenizerConfig = new LinkedHashMap<>();
        tokenizerConfig.put("bos_token", bos);
        tokenizerConfig.put("eos_token", tokens[vocab.getInt("tokenizer.ggml.eos_token_id")]);
        tokenizerConfig.put("chat_template", "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}"
                + "<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>{% endfor %}");
        tokenizerConfig.put("tokenizer_class", "PreTrainedTokenizerFast");
        Files.writeString(directory.resolve("tokenizer_config.json"), JsonWriter.write(tokenizerConfig));
    }
}
