package dev.panllama.quantize;

import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufTensorInfo;

import java.util.Collection;
import java.util.Comparator;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Chooses each tensor's type for a quantization mix exactly as llama-quantize does for the Llama
 * family (llama.cpp's {@code llama_tensor_get_type} in {@code src/llama-quant.cpp}): what may be
 * quantized at all, the output and embedding types, the extra bits the _M mixes give to attn_v and
 * ffn_down of some layers, the 8-expert and 70B special cases, and the fallback for rows a block type
 * cannot divide. Its counters follow the order in which llama-quantize visits tensors (by layer, then
 * name), so one selector serves one file, visited in that order.
 */
public final class TypeSelector {

    /**
     * What the selection needs of the model.
     *
     * @param attentionV how many attn_v (or fused QKV) tensors the file has
     */
    public record Model(String architecture, int layers, int heads, int kvHeads, int experts, boolean tiedEmbeddings,
                 int attentionV) {
        int groupSize() {
            return heads / Math.max(1, kvHeads);
        }

        /** llama.cpp's LLM_TYPE_70B: an 80-layer Llama with grouped-query attention. */
        boolean is70B() {
            return architecture.equals("llama") && layers == 80 && heads != kvHeads;
        }

        /**
         * The model as its GGUF tensor names show the rest: embeddings tied when there is no
         * output.weight, and attn_v counted with fused QKV and KV-B tensors, as llama.cpp counts them.
         */
        public static Model of(String architecture, int layers, int heads, int kvHeads, int experts, Collection<String> tensorNames) {
            boolean tied = !tensorNames.contains("output.weight");
            int attentionV = (int) tensorNames.stream().filter(n -> n.contains("attn_v.weight")
                    || n.contains("attn_qkv.weight") || n.contains("attn_kv_b.weight")).count();
            return new Model(architecture, layers, heads, kvHeads, experts, tied, attentionV);
        }
    }

    /** The order llama-quantize visits and writes tensors in: model-wide ones first, then by layer, then by name. */
    public static <T> Comparator<T> llamaOrder(Function<T, String> name) {
        return Comparator.comparingInt((T t) -> layerInName(name.apply(t))).thenComparing(name);
    }

    /** The options that change the choice. */
    public record Options(FileType fileType, boolean pure, GgmlType outputType, GgmlType embeddingType, boolean importance) {
    }

    private enum Category { OUTPUT, TOKEN_EMBD, ATTENTION_QKV, ATTENTION_V, ATTENTION_K, ATTENTION_Q, ATTENTION_OUTPUT, FFN_UP, FFN_GATE, FFN_DOWN, OTHER }

    private static final Pattern LAYER = Pattern.compile("blk\\.(\\d+)\\..*");

    private final Model model;
    private final Options options;
    private int attentionV;
    private int ffnDown;

    public TypeSelector(Model model, Options options) {
        this.model = model;
        this.options = options;
    }

    /** Whether llama-quantize would quantize the tensor at all (2-D and up, a weight, not a norm or router). */
    static boolean allowsQuantization(GgufTensorInfo tensor, boolean quantizeOutput) {
        String name = tensor.name();
        return tensor.dimensions() >= 2 && name.endsWith("weight") && !name.contains("_norm.weight")
                && (quantizeOutput || !name.equals("output.weight"))
                && !name.contains("ffn_gate_inp.weight") && !name.contains("ffn_gate_tid2eid.weight")
                && !name.contains("altup") && !name.contains("laurel") && !name.contains("per_layer_model_proj")
                && !name.equals("position_embd.weight") && !name.equals("token_types.weight")
                && !name.contains("ssm_conv1d") && !name.contains("attn_rel_b.weight");
    }

    /** The type {@code tensor} gets; call once per tensor, in llama-quantize's order. */
    public GgmlType select(GgufTensorInfo tensor) {
        if (!allowsQuantization(tensor, true)) {
            return tensor.type();
        }
        Category category = category(tensor.name());
        if (options.embeddingType() != null && category == Category.TOKEN_EMBD) {
            return options.embeddingType();
        }
        if (options.outputType() != null && category == Category.OUTPUT) {
            return options.outputType();
        }
        GgmlType type = options.fileType().defaultType();
        if (!type.isQuantized()) {
            return type;
        }
        if (!options.pure()) {
            type = mix(type, tensor, category);
        }
        return fallback(tensor, type);
    }

    private static Category category(String name) {
        if (name.equals("output.weight")) {
            return Category.OUTPUT;
        }
        if (name.equals("token_embd.weight") || name.equals("per_layer_token_embd.weight")) {
            return Category.TOKEN_EMBD;
        }
        if (name.contains("attn_qkv.weight")) {
            return Category.ATTENTION_QKV;
        }
        if (name.contains("attn_v.weight")) {
            return Category.ATTENTION_V;
        }
        if (name.contains("attn_k.weight")) {
            return Category.ATTENTION_K;
        }
        if (name.contains("attn_q.weight")) {
            return Category.ATTENTION_Q;
        }
        if (name.contains("attn_output.weight")) {
            return Category.ATTENTION_OUTPUT;
        }
        if (name.contains("ffn_up")) {
            return Category.FFN_UP;
        }
        if (name.contains("ffn_gate")) {
            return Category.FFN_GATE;
        }
        if (name.contains("ffn_down")) {
            return Category.FFN_DOWN;
        }
        return Category.OTHER;
    }

    private static boolean moreBits(int layer, int layers) {
        return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
    }

    /** The layer number in a tensor's name ({@code blk.N.}), or -1 for a model-wide tensor. */
    public static int layerInName(String name) {
        Matcher m = LAYER.matcher(name);
        return m.matches() ? Integer.parseInt(m.group(1)) : -1;
    }

    /** The layer a per-layer tensor belongs to: from its name with experts, else from the visit counter. */
    private int layerOf(String name, int counter) {
        if (Math.max(1, model.experts()) > 1) {
            int layer = layerInName(name);
            if (layer < 0) {
                throw new IllegalArgumentException("cannot tell the layer of tensor " + name);
            }
            return layer;
        }
        return counter;
    }

    private GgmlType mix(GgmlType type, GgufTensorInfo tensor, Category category) {
        FileType f = options.fileType();
        int layers = model.layers();
        boolean eightExperts = model.experts() == 8;
        if (category == Category.OUTPUT || (model.tiedEmbeddings() && category == Category.TOKEN_EMBD)) {
            if (options.outputType() != null) {
                return options.outputType();
            }
            if (tensor.dim(0) % type.blockSize() != 0) {
                return GgmlType.Q8_0;
            }
            return type != GgmlType.Q8_0 ? GgmlType.Q6_K : type;
        }
        if (category == Category.TOKEN_EMBD) {
            return f == FileType.TQ1_0 || f == FileType.TQ2_0 ? GgmlType.Q4_K : type;
        }
        switch (category) {
            case ATTENTION_V, ATTENTION_QKV -> {
                // llama.cpp treats a fused QKV like attn_v (its own QKV branch is never reached).
                if (f == FileType.Q2_K) {
                    type = model.groupSize() >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K;
                } else if (f == FileType.Q3_K_M) {
                    type = attentionV < 2 ? GgmlType.Q5_K : GgmlType.Q4_K;
                } else if (f == FileType.Q3_K_L) {
                    type = GgmlType.Q5_K;
                } else if ((f == FileType.IQ4_NL || f == FileType.IQ4_XS) && model.groupSize() >= 4) {
                    type = GgmlType.Q5_K;
                } else if ((f == FileType.Q4_K_M || f == FileType.Q5_K_M) && moreBits(attentionV, model.attentionV())) {
                    type = GgmlType.Q6_K;
                } else if (f == FileType.Q4_K_S && attentionV < 4) {
                    type = GgmlType.Q5_K;
                }
                if (model.is70B() && (type == GgmlType.Q3_K || type == GgmlType.Q4_K)) {
                    type = GgmlType.Q5_K;
                }
                if (eightExperts) {
                    type = GgmlType.Q8_0;
                }
                attentionV++;
                return type;
            }
            case ATTENTION_K -> {
                return eightExperts ? GgmlType.Q8_0 : type;
            }
            case FFN_DOWN -> {
                int layer = layerOf(tensor.name(), ffnDown);
                if (f == FileType.Q2_K) {
                    type = GgmlType.Q3_K;
                } else if (f == FileType.Q3_K_M) {
                    type = layer < layers / 16 ? GgmlType.Q5_K : GgmlType.Q4_K;
                } else if (f == FileType.Q3_K_L) {
                    type = GgmlType.Q5_K;
                } else if (f == FileType.Q4_K_M) {
                    if (moreBits(layer, layers)) {
                        type = GgmlType.Q6_K;
                    }
                } else if (layer < layers / 8 && (f == FileType.IQ4_NL || f == FileType.IQ4_XS) && !options.importance()) {
                    type = GgmlType.Q5_K;
                } else if (f == FileType.Q5_K_M && moreBits(layer, layers)) {
                    type = GgmlType.Q6_K;
                } else if (f == FileType.Q4_K_S && layer < layers / 8) {
                    type = GgmlType.Q5_K;
                } else if ((f == FileType.Q4_0 || f == FileType.Q5_0) && options.importance() && layer < layers / 8) {
                    // The first ffn_down layers go wild even with an importance matrix at Q4_0/Q5_0.
                    type = f == FileType.Q4_0 ? GgmlType.Q4_1 : GgmlType.Q5_1;
                }
                ffnDown++;
                return type;
            }
            case ATTENTION_OUTPUT -> {
                if (eightExperts) {
                    boolean bump = f == FileType.Q2_K || f == FileType.Q3_K_S || f == FileType.Q3_K_M || f == FileType.IQ4_NL
                            || f == FileType.Q4_K_S || f == FileType.Q4_K_M || f == FileType.IQ4_XS;
                    return bump ? GgmlType.Q5_K : type;
                }
                return switch (f) {
                    case Q2_K -> GgmlType.Q3_K;
                    case Q3_K_M -> GgmlType.Q4_K;
                    case Q3_K_L -> GgmlType.Q5_K;
                    default -> type;
                };
            }
            default -> {
                return type;
            }
        }
    }

    /** A type whose blocks do not divide the rows falls back to a 32-block type, else to F16. */
    private static GgmlType fallback(GgufTensorInfo tensor, GgmlType type) {
        long columns = tensor.dim(0);
        if (columns % type.blockSize() == 0) {
            return type;
        }
        GgmlType fallback = switch (type) {
            case IQ4_XS -> GgmlType.IQ4_NL;
            case Q2_K, Q3_K, TQ1_0, TQ2_0 -> GgmlType.Q4_0;
            case Q4_K -> GgmlType.Q5_0;
            case Q5_K -> GgmlType.Q5_1;
            case Q6_K -> GgmlType.Q8_0;
            default -> type;
        };
        return columns % fallback.blockSize() == 0 ? fallback : GgmlType.F16;
    }
}
