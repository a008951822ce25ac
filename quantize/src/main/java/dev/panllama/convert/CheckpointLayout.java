package dev.panllama.convert;

import dev.panllama.gguf.GgufValue;
import dev.panllama.gguf.GgufWriter;
import dev.panllama.model.ModelKey;
import dev.panllama.model.WeightSpec;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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

    /**
     * Where a layer weight the shared part does not know comes from (feed-forward blocks, experts);
     * empty for an optional one the checkpoint lacks.
     */
    abstract Optional<PlannedTensor> planFamilyWeight(WeightSpec weight, Tensors tensors);

    /** Whether Q and K rows are reordered for ggml's RoPE: the checkpoint's RoPE rotates halves (Llama 3). */
    abstract boolean interleavesRope();

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

    /**
     * Every GGUF tensor of the model family's list ({@code weights}, for the metadata this layout
     * wrote), each with the checkpoint tensor it comes from.
     */
    final List<PlannedTensor> plan(List<WeightSpec> weights, Map<String, SafetensorsFile.Tensor> checkpoint, Consumer<String> notices) {
        noticeFixedSettings(notices);
        Tensors tensors = new Tensors(checkpoint);
        List<PlannedTensor> plan = new ArrayList<>();
        for (WeightSpec weight : weights) {
            planWeight(weight, tensors).ifPresent(plan::add);
        }
        tensors.finish(notices);
        return plan;
    }

    /** The weights every Llama names alike; the family's own through {@link #planFamilyWeight}. */
    private Optional<PlannedTensor> planWeight(WeightSpec weight, Tensors tensors) {
        String layer = "model.layers." + weight.layer() + ".";
        return switch (weight.tensor()) {
            case ROPE_FREQS -> ropeFactors().map(factors ->
                    new PlannedTensor(weight.name(), weight.shape(), TensorSource.values(factors), null));
            case TOKEN_EMBD -> Optional.of(asIs(weight, tensors, "model.embed_tokens.weight"));
            case OUTPUT_NORM -> Optional.of(asIs(weight, tensors, "model.norm.weight"));
            case OUTPUT -> tensors.has("lm_head.weight") ? Optional.of(asIs(weight, tensors, "lm_head.weight")) : Optional.empty();
            case ATTN_NORM -> Optional.of(asIs(weight, tensors, layer + "input_layernorm.weight"));
            case ATTN_Q -> Optional.of(rotated(weight, tensors, layer + "self_attn.q_proj.weight", heads));
            case ATTN_K -> Optional.of(rotated(weight, tensors, layer + "self_attn.k_proj.weight", kvHeads));
            case ATTN_V -> Optional.of(asIs(weight, tensors, layer + "self_attn.v_proj.weight"));
            case ATTN_OUT -> Optional.of(asIs(weight, tensors, layer + "self_attn.o_proj.weight"));
            case FFN_NORM -> Optional.of(asIs(weight, tensors, layer + "post_attention_layernorm.weight"));
            default -> planFamilyWeight(weight, tensors);
        };
    }

    /** Q or K: as it is, or with its rows reordered for ggml's RoPE. */
    private PlannedTensor rotated(WeightSpec weight, Tensors tensors, String name, int headCount) {
        if (!interleavesRope()) {
            return asIs(weight, tensors, name);
        }
        SafetensorsFile.Tensor tensor = tensors.take(name, pytorchShape(weight));
        return new PlannedTensor(weight.name(), weight.shape(), TensorSource.ropeInterleaved(tensor, headCount), tensor);
    }

    /** A gate, up or down projection of a plain feed-forward block under {@code prefix} ({@code mlp.} or {@code feed_forward.}). */
    protected static PlannedTensor feedForwardWeight(WeightSpec weight, Tensors tensors, String prefix) {
        String projection = switch (weight.tensor()) {
            case FFN_GATE, FFN_GATE_SHEXP -> "gate_proj";
            case FFN_UP, FFN_UP_SHEXP -> "up_proj";
            case FFN_DOWN, FFN_DOWN_SHEXP -> "down_proj";
            default -> throw new IllegalArgumentException(weight + " is not a feed-forward projection");
        };
        return asIs(weight, tensors, prefix + projection + ".weight");
    }

    /**
     * The per-dimension-pair divisors of llama3-type RoPE scaling, as llama.cpp's converter computes
     * them: 1 for high frequencies, the factor for low ones, a smooth blend between.
     */
    private Optional<float[]> ropeFactors() {
        Map<String, Object> scaling = config.object("rope_scaling");
        if (!"llama3".equalsIgnoreCase(String.valueOf(scaling.getOrDefault("rope_type", scaling.get("type"))))) {
            return Optional.empty();
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
        return Optional.of(factors);
    }

    private static double number(Map<String, Object> map, String key, double fallback) {
        return map.get(key) instanceof Double d ? d : fallback;
    }

    /**
     * The checkpoint tensor {@code name} taken as it is for {@code weight}: the same values, its shape
     * the weight's written outermost first (PyTorch's order).
     */
    protected static PlannedTensor asIs(WeightSpec weight, Tensors tensors, String name) {
        SafetensorsFile.Tensor tensor = tensors.take(name, pytorchShape(weight));
        return new PlannedTensor(weight.name(), weight.shape(), TensorSource.rows(tensor), tensor);
    }

    /** A GGUF shape (innermost first) in PyTorch's order (outermost first). */
    protected static long[] pytorchShape(WeightSpec weight) {
        long[] shape = weight.shape();
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
        private final Map<String, SafetensorsFile.Tensor> taken = new LinkedHashMap<>();

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
            taken.put(name, tensor);
            return tensor;
        }

        /** As {@link #take}, for a tensor several GGUF tensors are made from (Llama 4's fused expert gate and up). */
        SafetensorsFile.Tensor takeShared(String name, long... shape) {
            SafetensorsFile.Tensor earlier = taken.get(name);
            return earlier != null ? earlier : take(name, shape);
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
