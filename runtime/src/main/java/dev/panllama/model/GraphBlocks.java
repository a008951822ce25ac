package dev.panllama.model;

import dev.panllama.ggml.ComputeGraph;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Rope;
import dev.panllama.ggml.Tensor;

/**
 * The building blocks the Llama family's graphs share (llama.cpp keeps its twins in
 * {@code llama-graph.cpp}): norms, attention over the KV cache, gated feed-forward, mixture of
 * experts. One instance serves one graph build.
 */
public final class GraphBlocks {

    /** What a layer's router scores are named, as llama.cpp names them, followed by {@code -layer}. */
    public static final String ROUTER_SCORES = "ffn_moe_logits";

    private final GgmlContext ctx;
    private final ComputeGraph graph;
    private final ModelConfig config;
    private final Dimensions dims;
    private final GraphOutput output;

    /** Blocks of a graph that gives logits. */
    public GraphBlocks(GgmlContext ctx, ComputeGraph graph, ModelConfig config) {
        this(ctx, graph, config, GraphOutput.LOGITS);
    }

    /** Blocks of a graph that gives {@code output} ({@link #output(ModelWeights, Tensor)}). */
    public GraphBlocks(GgmlContext ctx, ComputeGraph graph, ModelConfig config, GraphOutput output) {
        this.ctx = ctx;
        this.graph = graph;
        this.config = config;
        this.dims = config.dims();
        this.output = output;
    }

    public GgmlContext ctx() {
        return ctx;
    }

    public ModelConfig config() {
        return config;
    }

    /** RMS norm along rows, then the learned per-channel weight. */
    public Tensor rmsNorm(Tensor x, Tensor weight) {
        return ctx.mul(rmsNorm(x), weight);
    }

    /** RMS norm along rows without a weight (Llama 4's QK norm). */
    public Tensor rmsNorm(Tensor x) {
        return ctx.rmsNorm(x, dims.rmsEpsilon());
    }

    /** Q, K, V of a layer, shaped {@code [head, n_head(_kv), n_tokens]}. */
    public Tensor[] qkv(LayerWeights layer, Tensor x) {
        long tokens = x.ne(1);
        Tensor q = ctx.reshape(ctx.mulMat(layer.wq(), x), dims.headSize(), dims.heads(), tokens);
        Tensor k = ctx.reshape(ctx.mulMat(layer.wk(), x), dims.headSize(), dims.kvHeads(), tokens);
        Tensor v = ctx.reshape(ctx.mulMat(layer.wv(), x), dims.headSize(), dims.kvHeads(), tokens);
        return new Tensor[] {q, k, v};
    }

    /** Rotates {@code x [head, n_heads, n_tokens]} by position, with the layer's frequency base. */
    public Tensor rope(Tensor x, GraphInputs inputs, Tensor freqFactors, int layer) {
        return ctx.rope(x, inputs.positions(), freqFactors,
                Rope.plain(config.rope().dimensions(), dims.contextLength(), config.rope().baseOf(config.plan(), layer)));
    }

    /**
     * The token embeddings of the batch: {@code [n_embd, n_tokens]}. Named as llama.cpp names them: where
     * the embedding table stays on the host and the layers run on a GPU, ggml's scheduler copies this
     * tensor to the GPU under a name made from it, and the graph tests compare those names.
     */
    public Tensor embed(ModelWeights weights, GraphInputs inputs) {
        return ctx.getRows(weights.tokenEmbedding(), inputs.tokens()).name("embd");
    }

    /**
     * The attention block's output added to its input, the feed-forward block's input. After the last
     * layer's attention only the rows whose logits are wanted go on.
     */
    public Tensor attentionResidual(Tensor attended, Tensor residual, int layer, GraphInputs inputs) {
        if (layer == dims.layers() - 1) {
            attended = ctx.getRows(attended, inputs.outputRows());
            residual = ctx.getRows(residual, inputs.outputRows());
        }
        return ctx.add(attended, residual);
    }

    /**
     * Stores K and V of the batch in the layer's cache cells, attends with flash attention over the
     * cells the mask allows, and projects the heads back: {@code [n_embd, n_tokens]}. The nodes come
     * in llama.cpp's order ({@code build_attn}): Q, K and V (Q, V, K with a single cache, where K's
     * rope can then write straight into the cache), the two cache writes, then attention, so that a
     * backend that fuses by pattern (ggml-cuda) sees the same graph. A quantized cache's heads are
     * rotated first where the view says so (Q and K, V, and attention's output before the projection;
     * see {@link GraphInputs.KvView}), as llama.cpp's {@code build_attn} does.
     * <p>
     * Where the cells in use lie in two tiers (a device's memory, then host memory), each tier takes the
     * batch rows whose cells it holds, and attention reads both tiers joined in cell order into one
     * tensor: flash attention then gets the very keys and values, in the same order and layout, that one
     * tier would give it, so the result is the same bit for bit. (Partial attention per tier merged
     * through the log-sum-exp would leave each tier's cells where they are, but ggml's flash attention
     * at this pin does not return the log-sum-exp.) Where the host tier is of other types than the first
     * tier (a Q8_0 host tier under an F16 device tier), its rows are converted to the first tier's types
     * before the join, on the CPU where they are, so that the device receives rows of its own type and
     * no larger intermediates; attention then computes what a cache of the first tier's types holding
     * the host tier's rounded values would.
     */
    public Tensor attention(LayerWeights weights, int layer, Tensor q, Tensor k, Tensor v, GraphInputs inputs) {
        GraphInputs.KvView kv = inputs.kv(layer);
        long tokens = q.ne(2);
        if (kv.keyRotation() != null) {
            q = rotate(q, kv.keyRotation());
            k = rotate(k, kv.keyRotation());
        }
        if (kv.valueRotation() != null) {
            v = rotate(v, kv.valueRotation());
        }
        graph.expand(q);
        if (config.plan().chunkSize() > 0) {   // llama.cpp's cache of two parts (llama_kv_cache_iswa)
            graph.expand(k);
            graph.expand(v);
        } else {
            graph.expand(v);
            graph.expand(k);
        }
        Tensor batchKeys = ctx.view(k, dims.kvWidth(), tokens, k.nb(2), 0);
        Tensor batchValues = ctx.view(v, dims.kvWidth(), tokens, v.nb(2), 0);
        for (GraphInputs.KvPart part : kv.parts()) {
            if (part.keyCells() != null) {
                Tensor rows = part.batchRows();
                graph.expand(ctx.setRows(part.keys(), rows == null ? batchKeys : ctx.getRows(batchKeys, rows), part.keyCells()));
                graph.expand(ctx.setRows(part.values(), rows == null ? batchValues : ctx.getRows(batchValues, rows), part.valueCells()));
            }
        }

        Tensor cachedK = null;
        Tensor cachedV = null;
        for (GraphInputs.KvPart part : kv.parts()) {
            if (part.cellsRead() > 0) {
                Tensor partK = cellsView(part.keys(), part.cellsRead());
                Tensor partV = cellsView(part.values(), part.cellsRead());
                cachedK = cachedK == null ? partK : ctx.concat(cachedK, convertOnHost(partK, cachedK.type()), 2);
                cachedV = cachedV == null ? partV : ctx.concat(cachedV, convertOnHost(partV, cachedV.type()), 2);
            }
        }
        Tensor query = ctx.view(q, q.ne(0), q.ne(1), q.ne(2), 1, q.nb(1), q.nb(2), q.nb(3), 0);
        Tensor attended = ctx.flashAttention(
                ctx.permute(query, 0, 2, 1, 3),      // [head, n_tokens, n_head]
                ctx.permute(cachedK, 0, 2, 1, 3),    // [head, cells, n_head_kv]
                ctx.permute(cachedV, 0, 2, 1, 3),
                kv.mask(), dims.attentionScale());   // [head, n_head, n_tokens]
        Tensor merged = ctx.reshape(attended, dims.queryWidth(), tokens);
        if (kv.valueRotation() != null) {
            merged = rotate(merged, kv.valueRotation());    // the normalized matrix is its own inverse
        }
        return ctx.mulMat(weights.wo(), merged);
    }

    /**
     * {@code x} rotated in runs of {@code n} elements by {@code rotation [n, n]}, its shape kept: as
     * llama.cpp's {@code llama_mul_mat_hadamard}, through a 2-D view of the runs (a contiguous copy where
     * {@code x} is not contiguous).
     */
    private Tensor rotate(Tensor x, Tensor rotation) {
        long n = rotation.ne(0);
        long runs = x.elementCount() / n;
        Tensor flat = x.isContiguous() ? ctx.reshape(x, n, runs) : ctx.cont(x, n, runs);
        return ctx.reshape(ctx.mulMatHadamard(rotation, flat), x.ne(0), x.ne(1), x.ne(2), x.ne(3));
    }

    /**
     * {@code rows} of a host tier as {@code type}, converted on the CPU ({@link ComputeGraph#computeOnHost}):
     * through F32 where they are quantized, since ggml's CPU backend converts a quantized type only to F32.
     * {@code rows} themselves when already of {@code type}.
     */
    private Tensor convertOnHost(Tensor rows, GgmlType type) {
        if (rows.type() == type) {
            return rows;
        }
        Tensor converted = rows;
        if (rows.type().isQuantized() && type != GgmlType.F32) {
            converted = ctx.cast(converted, GgmlType.F32);
            graph.computeOnHost(converted);
        }
        converted = ctx.cast(converted, type);
        graph.computeOnHost(converted);
        return converted;
    }

    /** The first {@code cells} cells of a cache tensor {@code [kv_width, cells]} as {@code [head, n_head_kv, cells, 1]}. */
    private Tensor cellsView(Tensor cache, long cells) {
        long headBytes = cache.type().rowBytes(dims.headSize());
        return ctx.view(cache, dims.headSize(), dims.kvHeads(), cells, 1, headBytes, cache.nb(1), cache.byteSize(), 0);
    }

    /** {@code down · (silu(gate · x) * (up · x))}. */
    public Tensor gatedFeedForward(Tensor x, Tensor gate, Tensor up, Tensor down) {
        return ctx.mulMat(down, ctx.swiglu(ctx.mulMat(gate, x), ctx.mulMat(up, x)));
    }

    /**
     * The routed experts of mixture-of-experts layer {@code il} for {@code x [n_embd, n_tokens]}: the
     * router picks {@code expertsUsed} experts per token, whose gated feed-forward outputs are weighted
     * and summed. With {@link Experts.Gating#SIGMOID_BEFORE_EXPERTS} the weights scale each
     * expert's input instead of its output. The router's scores are named {@link #ROUTER_SCORES}{@code -il},
     * so that a test can observe which experts a batch chose. The same as {@link #route},
     * {@link #expertInput}, {@link #expertProducts} over the layer's experts and {@link #weighAndSum}.
     */
    public Tensor experts(LayerWeights layer, int il, Tensor x) {
        Routing routing = route(layer, il, x);
        Tensor input = expertInput(x, routing);
        Tensor outputs = expertProducts(layer.expertsGate(), layer.expertsUp(), layer.expertsDown(), input, routing.selected());
        return weighAndSum(outputs, routing);
    }

    /** The router of mixture-of-experts layer {@code il} for {@code x [n_embd, n_tokens]}: which experts, with which weights. */
    public Routing route(LayerWeights layer, int il, Tensor x) {
        long tokens = x.ne(1);
        Experts experts = config.experts();
        int used = experts.used();
        boolean sigmoid = experts.gating() == Experts.Gating.SIGMOID_BEFORE_EXPERTS;

        Tensor logits = ctx.mulMat(layer.router(), x).name(ROUTER_SCORES + "-" + il);   // [n_expert, n_tokens]
        Tensor probabilities = sigmoid ? ctx.sigmoid(logits) : ctx.softMax(logits);
        // Llama 4 ranks experts by raw logit; the sigmoid only weighs the chosen ones.
        Tensor selected = ctx.topK(sigmoid ? logits : probabilities, used);  // I32 [used, n_tokens]
        Tensor weights = ctx.getRows(ctx.reshape(probabilities, 1, experts.count(), tokens), selected); // [1, used, n_tokens]
        if (!sigmoid) {
            Tensor flat = ctx.reshape(weights, used, tokens);
            Tensor sum = ctx.clamp(ctx.sumRows(flat), 6.103515625e-5f, Float.POSITIVE_INFINITY);
            weights = ctx.reshape(ctx.div(flat, sum), 1, used, tokens);
        }
        if (experts.weightsScale() != 0f && experts.weightsScale() != 1f) {
            weights = ctx.scale(weights, experts.weightsScale());
        }
        graph.expand(weights);
        return new Routing(selected, weights);
    }

    /**
     * What the chosen experts multiply, {@code [n_embd, 1, n_tokens]} (every choice of a token takes the
     * same row) or, where the gating weights scale the input, {@code [n_embd, n_expert_used, n_tokens]}.
     */
    public Tensor expertInput(Tensor x, Routing routing) {
        long n = x.ne(0);
        long tokens = x.ne(1);
        Tensor input = ctx.reshape(x, n, 1, tokens);
        if (config.experts().gating() == Experts.Gating.SIGMOID_BEFORE_EXPERTS) {
            input = ctx.mul(ctx.repeat(input, n, config.experts().used(), tokens, 1), routing.weights());
        }
        return input;
    }

    /**
     * The gated feed-forward products of stacked experts {@code gate}, {@code up}, {@code down} (one
     * matrix per expert along dimension 2) for {@code input [n_embd, 1 or k, n]} with the I32 expert
     * numbers {@code ids [k, n]}: {@code [n_embd, k, n]}.
     */
    public Tensor expertProducts(Tensor gate, Tensor up, Tensor down, Tensor input, Tensor ids) {
        Tensor upped = ctx.mulMatId(up, input, ids);        // [n_ff_exp, k, n]
        Tensor gated = ctx.mulMatId(gate, input, ids);
        return ctx.mulMatId(down, ctx.swiglu(gated, upped), ids);
    }

    /** The experts' outputs {@code [n_embd, n_expert_used, n_tokens]} weighted (unless the input was) and summed per token. */
    public Tensor weighAndSum(Tensor outputs, Routing routing) {
        long n = outputs.ne(0);
        long tokens = outputs.ne(2);
        int used = config.experts().used();
        if (config.experts().gating() != Experts.Gating.SIGMOID_BEFORE_EXPERTS) {
            outputs = ctx.mul(outputs, routing.weights());
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

    /**
     * The graph's output rows: the final norm and the output head, logits {@code [n_vocab, n_outputs]}; or
     * for {@link GraphOutput#EMBEDDINGS} the final norm alone, {@code [n_embd, n_outputs]}.
     */
    public Tensor output(ModelWeights weights, Tensor x) {
        Tensor normed = rmsNorm(x, weights.outputNorm());
        return ctx.output(output == GraphOutput.LOGITS ? ctx.mulMat(weights.output(), normed) : normed);
    }
}
