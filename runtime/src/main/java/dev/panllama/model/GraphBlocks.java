package dev.panllama.model;

import dev.panllama.ggml.ComputeGraph;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.Rope;
import dev.panllama.ggml.Tensor;

/**
 * The building blocks the Llama family's graphs share (llama.cpp keeps its twins in
 * {@code llama-graph.cpp}): norms, attention over the KV cache, gated feed-forward, mixture of
 * experts. One instance serves one graph build.
 */
public final class GraphBlocks {

    private final GgmlContext ctx;
    private final ComputeGraph graph;
    private final ModelConfig config;
    private final KvCache cache;

    GraphBlocks(GgmlContext ctx, ComputeGraph graph, ModelConfig config, KvCache cache) {
        this.ctx = ctx;
        this.graph = graph;
        this.config = config;
        this.cache = cache;
    }

    GgmlContext ctx() {
        return ctx;
    }

    ComputeGraph graph() {
        return graph;
    }

    ModelConfig config() {
        return config;
    }

    /** RMS norm along rows, then the learned per-channel weight. */
    Tensor rmsNorm(Tensor x, Tensor weight) {
        return ctx.mul(ctx.rmsNorm(x, config.rmsEpsilon()), weight);
    }

    /** Q, K, V of a layer, shaped {@code [head, n_head(_kv), n_tokens]}. */
    Tensor[] qkv(LayerWeights layer, Tensor x) {
        long tokens = x.ne(1);
        Tensor q = ctx.reshape(ctx.mulMat(layer.wq(), x), config.headSize(), config.heads(), tokens);
        Tensor k = ctx.reshape(ctx.mulMat(layer.wk(), x), config.headSize(), config.kvHeads(), tokens);
        Tensor v = ctx.reshape(ctx.mulMat(layer.wv(), x), config.headSize(), config.kvHeads(), tokens);
        return new Tensor[] {q, k, v};
    }

    /** Rotates {@code x [head, n_heads, n_tokens]} by position, with the layer's frequency base. */
    Tensor rope(Tensor x, BatchInputs inputs, Tensor freqFactors, int layer) {
        float base = config.isChunked(layer) ? config.ropeBaseChunked() : config.ropeBase();
        return ctx.rope(x, inputs.positions, freqFactors, Rope.plain(config.ropeDimensions(), config.contextLength(), base));
    }

    /**
     * Stores K and V of the batch in the layer's cache cells, attends with flash attention over the
     * cells the mask allows, and projects the heads back: {@code [n_embd, n_tokens]}. The nodes come
     * in llama.cpp's order ({@code build_attn}): Q, K and V (Q, V, K with a single cache, where K's
     * rope can then write straight into the cache), the two cache writes, then attention, so that a
     * backend that fuses by pattern (ggml-cuda) sees the same graph.
     */
    Tensor attention(LayerWeights weights, int layer, Tensor q, Tensor k, Tensor v, BatchInputs inputs) {
        BatchInputs.Group group = inputs.groupOf(config, layer);
        long tokens = q.ne(2);
        graph.expand(q);
        if (config.chunkSize() > 0) {   // llama.cpp's cache of two parts (llama_kv_cache_iswa)
            graph.expand(k);
            graph.expand(v);
        } else {
            graph.expand(v);
            graph.expand(k);
        }
        Tensor keys = cache.keys(layer);
        Tensor values = cache.values(layer);
        graph.expand(ctx.setRows(keys, ctx.view(k, config.kvWidth(), tokens, k.nb(2), 0), group.keyCells()));
        graph.expand(ctx.setRows(values, ctx.view(v, config.kvWidth(), tokens, v.nb(2), 0), group.valueCells()));

        long cells = group.cellsInUse();
        long headBytes = keys.type().rowBytes(config.headSize());
        Tensor query = ctx.view(q, q.ne(0), q.ne(1), q.ne(2), 1, q.nb(1), q.nb(2), q.nb(3), 0);
        Tensor cachedK = ctx.view(keys, config.headSize(), config.kvHeads(), cells, 1, headBytes, keys.nb(1), keys.byteSize(), 0);
        Tensor cachedV = ctx.view(values, config.headSize(), config.kvHeads(), cells, 1, headBytes, values.nb(1), values.byteSize(), 0);
        Tensor attended = ctx.flashAttention(
                ctx.permute(query, 0, 2, 1, 3),      // [head, n_tokens, n_head]
                ctx.permute(cachedK, 0, 2, 1, 3),    // [head, cells, n_head_kv]
                ctx.permute(cachedV, 0, 2, 1, 3),
                group.mask(), config.attentionScale());  // [head, n_head, n_tokens]
        Tensor merged = ctx.reshape(attended, config.queryWidth(), tokens);
        return ctx.mulMat(weights.wo(), merged);
    }

    /** {@code down · (silu(gate · x) * (up · x))}. */
    Tensor gatedFeedForward(Tensor x, Tensor gate, Tensor up, Tensor down) {
        return ctx.mulMat(down, ctx.swiglu(ctx.mulMat(gate, x), ctx.mulMat(up, x)));
    }

    /**
     * The routed experts of a mixture-of-experts layer for {@code x [n_embd, n_tokens]}: the router
     * picks {@code expertsUsed} experts per token, whose gated feed-forward outputs are weighted and
     * summed. With {@link ModelConfig.ExpertGating#SIGMOID_BEFORE_EXPERTS} the weights scale each
     * expert's input instead of its output.
     */
    Tensor experts(LayerWeights layer, Tensor x) {
        long n = x.ne(0);
        long tokens = x.ne(1);
        int used = config.expertsUsed();
        boolean sigmoid = config.gating() == ModelConfig.ExpertGating.SIGMOID_BEFORE_EXPERTS;

        Tensor logits = ctx.mulMat(layer.router(), x);                       // [n_expert, n_tokens]
        Tensor probabilities = sigmoid ? ctx.sigmoid(logits) : ctx.softMax(logits);
        // Llama 4 ranks experts by raw logit; the sigmoid only weighs the chosen ones.
        Tensor selected = ctx.topK(sigmoid ? logits : probabilities, used);  // I32 [used, n_tokens]
        Tensor weights = ctx.getRows(ctx.reshape(probabilities, 1, config.experts(), tokens), selected); // [1, used, n_tokens]
        if (!sigmoid) {
            Tensor flat = ctx.reshape(weights, used, tokens);
            Tensor sum = ctx.clamp(ctx.sumRows(flat), 6.103515625e-5f, Float.POSITIVE_INFINITY);
            weights = ctx.reshape(ctx.div(flat, sum), 1, used, tokens);
        }
        if (config.expertWeightsScale() != 0f && config.expertWeightsScale() != 1f) {
            weights = ctx.scale(weights, config.expertWeightsScale());
        }
        graph.expand(weights);

        Tensor input = ctx.reshape(x, n, 1, tokens);
        if (sigmoid) {
            input = ctx.mul(ctx.repeat(input, n, used, tokens, 1), weights);
        }
        Tensor up = ctx.mulMatId(layer.expertsUp(), input, selected);        // [n_ff_exp, used, n_tokens]
        Tensor gate = ctx.mulMatId(layer.expertsGate(), input, selected);
        Tensor outputs = ctx.mulMatId(layer.expertsDown(), ctx.swiglu(gate, up), selected); // [n_embd, used, n_tokens]
        if (!sigmoid) {
            outputs = ctx.mul(outputs, weights);
        }
        graph.expand(outputs);

        Tensor sum = null;
        for (int i = 0; i < used; i++) {
            Tensor expert = ctx.view(outputs, n, tokens, outputs.nb(2), i * outputs.nb(1));
            graph.expand(expert);
            sum = sum == null ? expert : ctx.add(sum, expert);
        }
        return used == 1 ? ctx.cont(sum) : sum;
    }

    /** Final norm and output head: logits {@code [n_vocab, n_outputs]}. */
    Tensor logits(ModelWeights weights, Tensor x) {
        return ctx.output(ctx.mulMat(weights.output(), rmsNorm(x, weights.outputNorm())));
    }
}
