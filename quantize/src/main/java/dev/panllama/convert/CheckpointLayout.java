package dev.panllama.convert;

import dev.panllama.gguf.GgufValue;
import dev.panllama.gguf.GgufWriter;
import dev.panllama.model.ModelKey;
import dev.panllama.model.TensorName;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * How one Hugging Face architecture becomes a GGUF, as llama.cpp's converter makes it: the metadata
 * its {@code config.json} gives, and each GGUF tensor with the checkpoint tensor it comes from. The
 * parts every Llama shares (embeddings, attention, norms, RoPE factors) live here; each architecture's
 * file adds its own. Every checkpoint tensor's shape is checked against what config.json implies.
 */
abstract sealed class CheckpointLayout permits Llama4Layout, LlamaLayout {

    protected final HfConfig config;
    protected final int hidden;
    protected final int layers;
    protected final int heads;
    protected final int kvHeads;
    protected final int headDim;
    protected final int vocab;

    protected CheckpointLayout(HfConfig config) {
        this.config = config;
        this.hidden = config.requireInt("hidden_size");
        this.layers = config.requireInt("num_hidden_layers");
        this.heads = config.requireInt("num_attention_heads");
        this.kvHeads = config.findInt("num_key_value_heads").orElse(heads);
        this.headDim = config.findInt("head_dim").orElse(hidden / heads);
        this.vocab = config.requireInt("vocab_size");
        if (hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0 || headDim <= 0 || headDim % 2 != 0) {
            throw new CheckpointException(config.file() + ": hidden_size " + hidden + ", num_hidden_layers " + layers
                    + ", num_attention_heads " + heads + ", num_key_value_heads " + kvHeads + ", head_dim " + headDim
                    + " do not describe a Llama");
        }
    }

    static CheckpointLayout of(HfConfig config) {
        String architecture = config.architecture();
        return switch (architecture) {
            case "Llama4ForConditionalGeneration", "Llama4ForCausalLM" -> new Llama4Layout(config);
            case "LlamaForCausalLM" -> new LlamaLayout(config);
            default -> throw new CheckpointException(config.file() + ": architecture " + architecture
                    + " is not one panllama converts (Llama4ForConditionalGeneration, Llama4ForCausalLM, LlamaForCausalLM)");
        };
    }

    /** The GGUF's general.architecture. */
    abstract String architecture();

    /** The architecture's own keys and tensors. */
    abstract void putArchitectureMetadata(GgufWriter writer);

    abstract void planLayer(int layer, Tensors tensors, List<PlannedTensor> plan);

    /** The metadata llama.cpp's converter writes from config.json, tokenizer aside. */
    final void putMetadata(GgufWriter writer) {
        String arch = architecture();
        writer.put(ModelKey.VOCAB_SIZE.of(arch), GgufValue.ofUint32(vocab))
                .put(ModelKey.BLOCK_COUNT.of(arch), GgufValue.ofUint32(layers));
        config.findInt("max_position_embeddings").ifPresent(n -> writer.put(ModelKey.CONTEXT_LENGTH.of(arch), GgufValue.ofUint32(n)));
        writer.put(ModelKey.EMBEDDING_LENGTH.of(arch), GgufValue.ofUint32(hidden))
                .put(ModelKey.FEED_FORWARD_LENGTH.of(arch), GgufValue.ofUint32(feedForwardLength()))
                .put(ModelKey.HEAD_COUNT.of(arch), GgufValue.ofUint32(heads))
                .put(ModelKey.HEAD_COUNT_KV.of(arch), GgufValue.ofUint32(kvHeads));
        config.findNumber("rope_theta").ifPresent(theta -> writer.put(ModelKey.ROPE_FREQ_BASE.of(arch), GgufValue.ofFloat32(theta.floatValue())));
        writer.put(ModelKey.RMS_EPSILON.of(arch), GgufValue.ofFloat32((float) config.requireNumber("rms_norm_eps")));
        if (config.has("head_dim")) {
            writer.put(ModelKey.KEY_LENGTH.of(arch), GgufValue.ofUint32(headDim))
                    .put(ModelKey.VALUE_LENGTH.of(arch), GgufValue.ofUint32(headDim));
        }
        writer.put(ModelKey.ROPE_DIMENSION_COUNT.of(arch), GgufValue.ofUint32(headDim));
        putRopeScaling(writer);
        putArchitectureMetadata(writer);
    }

    abstract int feedForwardLength();

    /** Routed experts per MoE layer; 0 for a dense model. */
    abstract int experts();

    /** Tells of config.json settings a GGUF cannot carry; most architectures have none. */
    void noticeFixedSettings(Consumer<String> notices) {
    }

    /** Linear scaling as keys; llama3-type scaling becomes the rope_freqs tensor instead. */
    private void putRopeScaling(GgufWriter writer) {
        Map<String, Object> scaling = config.object("rope_scaling");
        Object type = scaling.getOrDefault("rope_type", scaling.get("type"));
        if (type == null || "llama3".equalsIgnoreCase(String.valueOf(type)) || "default".equals(type)) {
            return;
        }
        if ("linear".equals(type) && scaling.get("factor") instanceof Double factor) {
            writer.put(ModelKey.ROPE_SCALING_TYPE.of(architecture()), "linear")
                    .put(ModelKey.ROPE_SCALING_FACTOR.of(architecture()), GgufValue.ofFloat32(factor.floatValue()));
            return;
        }
        throw new CheckpointException(config.file() + ": RoPE scaling '" + type + "' is not one panllama converts (llama3, linear)");
    }

    /** Every GGUF tensor, model-wide ones first, then layer by layer. */
    final List<PlannedTensor> plan(Map<String, SafetensorsFile.Tensor> checkpoint, Consumer<String> notices) {
        noticeFixedSettings(notices);
        Tensors tensors = new Tensors(checkpoint);
        List<PlannedTensor> plan = new ArrayList<>();
        ropeFactors().ifPresent(factors -> plan.add(new PlannedTensor(TensorName.ROPE_FREQS.of(),
                new long[] {factors.length}, TensorSource.values(factors), null)));
        plan.add(asIs(TensorName.TOKEN_EMBD.of(), tensors.take("model.embed_tokens.weight", vocab, hidden)));
        plan.add(asIs(TensorName.OUTPUT_NORM.of(), tensors.take("model.norm.weight", hidden)));
        if (tensors.has("lm_head.weight")) {
            plan.add(asIs(TensorName.OUTPUT.of(), tensors.take("lm_head.weight", vocab, hidden)));
        }
        for (int layer = 0; layer < layers; layer++) {
            planLayer(layer, tensors, plan);
        }
        tensors.finish(notices);
        return plan;
    }

    /**
     * The attention block and both norms of a layer. With {@code interleaveRope} the Q and K rows are
     * reordered for a checkpoint whose RoPE rotates halves (Llama 3); Llama 4 already rotates pairs.
     */
    protected final void planAttention(int layer, Tensors tensors, List<PlannedTensor> plan, boolean interleaveRope) {
        String prefix = "model.layers." + layer + ".";
        plan.add(asIs(TensorName.ATTN_NORM.of(layer), tensors.take(prefix + "input_layernorm.weight", hidden)));
        SafetensorsFile.Tensor q = tensors.take(prefix + "self_attn.q_proj.weight", (long) heads * headDim, hidden);
        SafetensorsFile.Tensor k = tensors.take(prefix + "self_attn.k_proj.weight", (long) kvHeads * headDim, hidden);
        plan.add(interleaveRope ? new PlannedTensor(TensorName.ATTN_Q.of(layer), ggufShape(q), TensorSource.ropeInterleaved(q, heads), q)
                : asIs(TensorName.ATTN_Q.of(layer), q));
        plan.add(interleaveRope ? new PlannedTensor(TensorName.ATTN_K.of(layer), ggufShape(k), TensorSource.ropeInterleaved(k, kvHeads), k)
                : asIs(TensorName.ATTN_K.of(layer), k));
        plan.add(asIs(TensorName.ATTN_V.of(layer), tensors.take(prefix + "self_attn.v_proj.weight", (long) kvHeads * headDim, hidden)));
        plan.add(asIs(TensorName.ATTN_OUT.of(layer), tensors.take(prefix + "self_attn.o_proj.weight", hidden, (long) heads * headDim)));
        plan.add(asIs(TensorName.FFN_NORM.of(layer), tensors.take(prefix + "post_attention_layernorm.weight", hidden)));
    }

    /** A plain gate/up/down feed-forward block under {@code prefix} ({@code mlp.} or {@code feed_forward.}). */
    protected final void planFeedForward(String prefix, int layer, int length, Tensors tensors, List<PlannedTensor> plan,
                                         TensorName gate, TensorName up, TensorName down) {
        plan.add(asIs(gate.of(layer), tensors.take(prefix + "gate_proj.weight", length, hidden)));
        plan.add(asIs(up.of(layer), tensors.take(prefix + "up_proj.weight", length, hidden)));
        plan.add(asIs(down.of(layer), tensors.take(prefix + "down_proj.weight", hidden, length)));
    }

    /**
     * The per-dimension-pair divisors of llama3-type RoPE scaling, as llama.cpp's converter computes
     * them: 1 for high frequencies, the factor for low ones, a smooth blend between.
     */
    private java.util.Optional<float[]> ropeFactors() {
        Map<String, Object> scaling = config.object("rope_scaling");
        if (!"llama3".equalsIgnoreCase(String.valueOf(scaling.getOrDefault("rope_type", scaling.get("type"))))) {
            return java.util.Optional.empty();
        }
        double base = config.findNumber("rope_theta").orElse(10000.0);
        double factor = number(scaling, "factor", 8.0);
        double lowFactor = number(scaling, "low_freq_factor", 1.0);
        double highFactor = number(scaling, "high_freq_factor", 4.0);
        double originalContext = number(scaling, "original_max_position_embeddings", 8192.0);
        double lowWavelength = originalContext / lowFactor;
        double highWavelength = originalContext / highFactor;
        float[] factors = new float[headDim / 2];
        for (int i = 0; i < factors.length; i++) {
            float frequency = (float) (1.0 / Math.pow(base, (2.0 * i) / headDim));
            double wavelength = 2 * Math.PI / frequency;
            if (wavelength < highWavelength) {
                factors[i] = 1;
            } else if (wavelength > lowWavelength) {
                factors[i] = (float) factor;
            } else {
                double smooth = (originalContext / wavelength - lowFactor) / (highFactor - lowFactor);
                factors[i] = (float) (1 / ((1 - smooth) / factor + smooth));
            }
        }
        return java.util.Optional.of(factors);
    }

    private static double number(Map<String, Object> map, String key, double fallback) {
        return map.get(key) instanceof Double d ? d : fallback;
    }

    /** A tensor taken as it is: only its shape is written innermost first. */
    protected static PlannedTensor asIs(String name, SafetensorsFile.Tensor tensor) {
        return new PlannedTensor(name, ggufShape(tensor), TensorSource.rows(tensor), tensor);
    }

    protected static long[] ggufShape(SafetensorsFile.Tensor tensor) {
        long[] shape = tensor.shape().clone();
        for (int i = 0, j = shape.length - 1; i < j; i++, j--) {
            long t = shape[i];
            shape[i] = shape[j];
            shape[j] = t;
        }
        return shape;
    }

    /**
     * The checkpoint's tensors, taken one by one as the plan uses them, under names without the
     * multimodal wrapper's {@code language_model.} prefix.
     */
    final class Tensors {
        private final Map<String, SafetensorsFile.Tensor> remaining = new LinkedHashMap<>();

        Tensors(Map<String, SafetensorsFile.Tensor> checkpoint) {
            checkpoint.forEach((name, tensor) -> remaining.put(name.startsWith("language_model.")
                    ? name.substring("language_model.".length()) : name, tensor));
        }

        boolean has(String name) {
            return remaining.containsKey(name);
        }

        /** The tensor called {@code name}, which must have {@code shape} (PyTorch order). */
        SafetensorsFile.Tensor take(String name, long... shape) {
            SafetensorsFile.Tensor tensor = remaining.remove(name);
            if (tensor == null) {
                throw new CheckpointException("tensor " + name + " is missing from the checkpoint (config.json describes "
                        + layers + " layers of a " + config.architecture() + ")");
            }
            if (!Arrays.equals(tensor.shape(), shape)) {
                throw new CheckpointException("tensor " + name + " in " + tensor.file().getFileName() + " has shape "
                        + tensor.shapeText() + ", but config.json implies " + Arrays.toString(shape)
                        + " (hidden_size " + hidden + ", heads " + heads + "/" + kvHeads + ", head_dim " + headDim
                        + ", vocab_size " + vocab + ")");
            }
            if (!tensor.dtype().convertible()) {
                throw new CheckpointException("tensor " + name + " is " + tensor.dtype()
                        + "; panllama converts F32, F16 and BF16 checkpoints (dequantize it first)");
            }
            return tensor;
        }

        /** What is left must be a vision tower (left out, with a notice) or a buffer llama.cpp drops too. */
        void finish(Consumer<String> notices) {
            List<String> vision = new ArrayList<>();
            for (String name : remaining.keySet()) {
                if (name.startsWith("vision_model.") || name.startsWith("multi_modal_projector.")) {
                    vision.add(name);
                } else if (!name.endsWith(".rotary_emb.inv_freq")) {
                    throw new CheckpointException("tensor " + name + " has no place in a " + architecture()
                            + " GGUF (is config.json from another model?)");
                }
            }
            if (!vision.isEmpty()) {
                notices.accept("left out the vision tower (" + vision.size() + " tensors): the GGUF holds the language model only");
            }
        }
    }
}
