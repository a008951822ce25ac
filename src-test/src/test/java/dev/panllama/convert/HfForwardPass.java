package dev.panllama.convert;

import java.util.Map;

/**
 * The forward pass of a Hugging Face Llama 3 or Llama 4 text model, written from the transformers
 * definitions over the checkpoint's own layout (fused expert gate_up, [experts, in, out] expert
 * matrices, rotate-half RoPE for Llama 3, complex pairs for Llama 4), in double precision. It shares
 * nothing with the converter or the GGUF side, so agreeing logits mean the conversion kept the model.
 */
final class HfForwardPass {

    private final HfCheckpoint checkpoint;
    private final Map<String, float[]> w;
    private final boolean llama4;
    private final int hidden, layers, heads, kvHeads, headDim, vocab;
    private final double eps;
    private final double[] inverseFrequencies;

    HfForwardPass(HfCheckpoint checkpoint) {
        this.checkpoint = checkpoint;
        this.w = checkpoint.weights;
        this.llama4 = checkpoint.spec.llama4();
        Map<String, Object> c = checkpoint.textConfig();
        this.hidden = num(c, "hidden_size");
        this.layers = num(c, "num_hidden_layers");
        this.heads = num(c, "num_attention_heads");
        this.kvHeads = num(c, "num_key_value_heads");
        this.headDim = num(c, "head_dim");
        this.vocab = checkpoint.vocabSize;
        this.eps = ((Number) c.get("rms_norm_eps")).doubleValue();
        this.inverseFrequencies = inverseFrequencies(c);
    }

    private static int num(Map<String, Object> c, String key) {
        return ((Number) c.get(key)).intValue();
    }

    /** transformers' default RoPE frequencies, with its "llama3" rescaling when configured. */
    @SuppressWarnings("unchecked")
    private double[] inverseFrequencies(Map<String, Object> c) {
        double base = ((Number) c.get("rope_theta")).doubleValue();
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = 1.0 / Math.pow(base, 2.0 * i / headDim);
        }
        if (!(c.get("rope_scaling") instanceof Map<?, ?> scaling)) {
            return inv;
        }
        Map<String, Object> s = (Map<String, Object>) scaling;
        double factor = ((Number) s.get("factor")).doubleValue();
        double low = ((Number) s.get("low_freq_factor")).doubleValue();
        double high = ((Number) s.get("high_freq_factor")).doubleValue();
        double old = ((Number) s.get("original_max_position_embeddings")).doubleValue();
        double lowWavelength = old / low, highWavelength = old / high;
        for (int i = 0; i < inv.length; i++) {
            double wavelength = 2 * Math.PI / inv[i];
            if (wavelength > lowWavelength) {
                inv[i] = inv[i] / factor;
            } else if (wavelength >= highWavelength) {
                double smooth = (old / wavelength - low) / (high - low);
                inv[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i];
            }
        }
        return inv;
    }

    /** Logits of every position of {@code tokens}, teacher-forced. */
    double[][] logits(int[] tokens) {
        int n = tokens.length;
        double[][] h = new double[n][];
        float[] embed = w.get("model.embed_tokens.weight");
        for (int t = 0; t < n; t++) {
            h[t] = new double[hidden];
            for (int i = 0; i < hidden; i++) {
                h[t][i] = embed[tokens[t] * hidden + i];
            }
        }
        for (int layer = 0; layer < layers; layer++) {
            String p = "model.layers." + layer + ".";
            double[][] x = new double[n][];
            for (int t = 0; t < n; t++) {
                x[t] = rmsNorm(h[t], w.get(p + "input_layernorm.weight"));
            }
            double[][] attention = attention(layer, x);
            for (int t = 0; t < n; t++) {
                add(h[t], attention[t]);
                double[] y = rmsNorm(h[t], w.get(p + "post_attention_layernorm.weight"));
                add(h[t], feedForward(layer, y));
            }
        }
        float[] head = w.getOrDefault("lm_head.weight", embed);
        double[][] logits = new double[n][];
        for (int t = 0; t < n; t++) {
            logits[t] = linear(head, rmsNorm(h[t], w.get("model.norm.weight")), vocab, hidden);
        }
        return logits;
    }

    private double[][] attention(int layer, double[][] x) {
        String p = "model.layers." + layer + ".self_attn.";
        int n = x.length;
        // Llama 4: every fourth layer has no RoPE and attends globally; the others are chunked, with QK norm.
        boolean rope = !llama4 || (layer + 1) % 4 != 0;
        Map<String, Object> c = checkpoint.textConfig();
        int chunk = llama4 && rope ? num(c, "attention_chunk_size") : Integer.MAX_VALUE;
        double[][] q = new double[n][], k = new double[n][], v = new double[n][];
        for (int t = 0; t < n; t++) {
            q[t] = linear(w.get(p + "q_proj.weight"), x[t], heads * headDim, hidden);
            k[t] = linear(w.get(p + "k_proj.weight"), x[t], kvHeads * headDim, hidden);
            v[t] = linear(w.get(p + "v_proj.weight"), x[t], kvHeads * headDim, hidden);
            if (rope) {
                rotate(q[t], heads, t);
                rotate(k[t], kvHeads, t);
                if (llama4 && Boolean.TRUE.equals(c.get("use_qk_norm"))) {
                    l2Norm(q[t], heads);
                    l2Norm(k[t], kvHeads);
                }
            } else if (Boolean.TRUE.equals(c.get("attn_temperature_tuning"))) {
                double scale = Math.log(Math.floor((t + 1.0) / num(c, "floor_scale")) + 1) * ((Number) c.get("attn_scale")).doubleValue() + 1;
                for (int i = 0; i < q[t].length; i++) {
                    q[t][i] *= scale;
                }
            }
        }
        double[][] out = new double[n][];
        int group = heads / kvHeads;
        for (int t = 0; t < n; t++) {
            double[] merged = new double[heads * headDim];
            for (int head = 0; head < heads; head++) {
                int kvHead = head / group;
                double[] scores = new double[t + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int s = 0; s <= t; s++) {
                    if (s / chunk != t / chunk) {
                        scores[s] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double dot = 0;
                    for (int i = 0; i < headDim; i++) {
                        dot += q[t][head * headDim + i] * k[s][kvHead * headDim + i];
                    }
                    scores[s] = dot / Math.sqrt(headDim);
                    max = Math.max(max, scores[s]);
                }
                double sum = 0;
                for (int s = 0; s <= t; s++) {
                    scores[s] = Math.exp(scores[s] - max);
                    sum += scores[s];
                }
                for (int s = 0; s <= t; s++) {
                    for (int i = 0; i < headDim; i++) {
                        merged[head * headDim + i] += scores[s] / sum * v[s][kvHead * headDim + i];
                    }
                }
            }
            out[t] = linear(w.get(p + "o_proj.weight"), merged, hidden, heads * headDim);
        }
        return out;
    }

    /** Llama 4 rotates (2i, 2i+1) pairs as complex numbers; Llama 3 rotates dimension i with i + d/2. */
    private void rotate(double[] x, int headCount, int position) {
        int half = headDim / 2;
        for (int head = 0; head < headCount; head++) {
            int base = head * headDim;
            for (int i = 0; i < half; i++) {
                double angle = position * inverseFrequencies[i];
                double cos = Math.cos(angle), sin = Math.sin(angle);
                int a = llama4 ? base + 2 * i : base + i;
                int b = llama4 ? base + 2 * i + 1 : base + i + half;
                double xa = x[a], xb = x[b];
                x[a] = xa * cos - xb * sin;
                x[b] = xb * cos + xa * sin;
            }
        }
    }

    private void l2Norm(double[] x, int headCount) {
        for (int head = 0; head < headCount; head++) {
            double sum = 0;
            for (int i = 0; i < headDim; i++) {
                sum += x[head * headDim + i] * x[head * headDim + i];
            }
            double scale = 1 / Math.sqrt(sum / headDim + eps);
            for (int i = 0; i < headDim; i++) {
                x[head * headDim + i] *= scale;
            }
        }
    }

    private double[] feedForward(int layer, double[] x) {
        String p = "model.layers." + layer + ".";
        if (!llama4) {
            return mlp(p + "mlp.", x, num(checkpoint.textConfig(), "intermediate_size"));
        }
        Map<String, Object> c = checkpoint.textConfig();
        if ((layer + 1) % num(c, "interleave_moe_layer_step") != 0) {
            return mlp(p + "feed_forward.", x, num(c, "intermediate_size_mlp"));
        }
        int experts = num(c, "num_local_experts");
        int used = num(c, "num_experts_per_tok");
        int ff = num(c, "intermediate_size");
        double[] router = linear(w.get(p + "feed_forward.router.weight"), x, experts, hidden);
        double[] out = mlp(p + "feed_forward.shared_expert.", x, ff);
        boolean[] chosen = new boolean[experts];
        for (int pick = 0; pick < used; pick++) {
            int best = -1;
            for (int e = 0; e < experts; e++) {
                if (!chosen[e] && (best < 0 || router[e] > router[best])) {
                    best = e;
                }
            }
            chosen[best] = true;
        }
        float[] gateUp = w.get(p + "feed_forward.experts.gate_up_proj");
        float[] down = w.get(p + "feed_forward.experts.down_proj");
        for (int e = 0; e < experts; e++) {
            if (!chosen[e]) {
                continue;
            }
            // The router's sigmoid score scales the expert's input.
            double score = 1 / (1 + Math.exp(-router[e]));
            double[] in = new double[hidden];
            for (int i = 0; i < hidden; i++) {
                in[i] = x[i] * score;
            }
            // gate_up_proj[e] is [hidden, 2 * ff]: x @ it gives gate then up.
            double[] act = new double[ff];
            for (int j = 0; j < ff; j++) {
                double gate = 0, up = 0;
                for (int i = 0; i < hidden; i++) {
                    gate += in[i] * gateUp[(e * hidden + i) * 2 * ff + j];
                    up += in[i] * gateUp[(e * hidden + i) * 2 * ff + ff + j];
                }
                act[j] = up * silu(gate);
            }
            // down_proj[e] is [ff, hidden].
            for (int o = 0; o < hidden; o++) {
                double sum = 0;
                for (int j = 0; j < ff; j++) {
                    sum += act[j] * down[(e * ff + j) * hidden + o];
                }
                out[o] += sum;
            }
        }
        return out;
    }

    private double[] mlp(String prefix, double[] x, int width) {
        double[] gate = linear(w.get(prefix + "gate_proj.weight"), x, width, hidden);
        double[] up = linear(w.get(prefix + "up_proj.weight"), x, width, hidden);
        for (int i = 0; i < width; i++) {
            gate[i] = silu(gate[i]) * up[i];
        }
        return linear(w.get(prefix + "down_proj.weight"), gate, hidden, width);
    }

    private static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    private double[] rmsNorm(double[] x, float[] weight) {
        double sum = 0;
        for (double v : x) {
            sum += v * v;
        }
        double scale = 1 / Math.sqrt(sum / x.length + eps);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * scale * weight[i];
        }
        return out;
    }

    /** {@code weight} is PyTorch's [out, in]: y = W x. */
    private static double[] linear(float[] weight, double[] x, int out, int in) {
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double sum = 0;
            int row = o * in;
            for (int i = 0; i < in; i++) {
                sum += weight[row + i] * x[i];
            }
            y[o] = sum;
        }
        return y;
    }

    private static void add(double[] into, double[] values) {
        for (int i = 0; i < into.length; i++) {
            into[i] += values[i];
        }
    }
}
