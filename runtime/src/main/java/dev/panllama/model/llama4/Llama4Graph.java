package dev.panllama.model.llama4;

import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.FeedForwardInput;
import dev.panllama.model.GraphBlocks;
import dev.panllama.model.GraphInputs;
import dev.panllama.model.LayerPlan;
import dev.panllama.model.LayerWeights;
import dev.panllama.model.LayerwiseGraphBuilder;
import dev.panllama.model.ModelWeights;

/**
 * The Llama 4 forward pass (llama.cpp: {@code src/models/llama4.cpp}). Per layer: RMS norm;
 * Q, K, V; on RoPE layers rotation then (unless Maverick) an RMS norm of Q and K; on NoPE layers
 * queries scaled by the attention temperature; attention over the chunk (chunked layers) or the
 * whole context (global layers); then a dense feed-forward block or routed experts plus the shared
 * expert.
 */
final class Llama4Graph implements LayerwiseGraphBuilder {

    @Override
    public Tensor build(GraphBlocks blocks, ModelWeights weights, GraphInputs inputs) {
        LayerPlan plan = blocks.config().plan();
        Tensor x = blocks.embed(weights, inputs);                              // [n_embd, n_tokens]
        for (int il = 0; il < plan.count(); il++) {
            FeedForwardInput input = attend(blocks, weights, inputs, il, x);
            Tensor routed = plan.isMoe(il) ? blocks.experts(weights.layer(il), il, input.normed()) : null;
            x = feedForward(blocks, weights, il, input, routed);
        }
        return blocks.output(weights, x);
    }

    @Override
    public FeedForwardInput attend(GraphBlocks blocks, ModelWeights weights, GraphInputs inputs, int il, Tensor x) {
        GgmlContext ctx = blocks.ctx();
        LayerPlan plan = blocks.config().plan();
        LayerWeights layer = weights.layer(il);
        Tensor[] qkv = blocks.qkv(layer, blocks.rmsNorm(x, layer.attnNorm()));
        Tensor q = qkv[0], k = qkv[1];
        if (plan.usesRope(il)) {
            q = blocks.rope(q, inputs, weights.ropeFactors(), il);
            k = blocks.rope(k, inputs, weights.ropeFactors(), il);
            if (plan.qkNorm()) {
                q = blocks.rmsNorm(q);
                k = blocks.rmsNorm(k);
            }
        } else if (inputs.temperature() != null) {
            q = ctx.mul(q, inputs.temperature());
        }
        Tensor ffnInput = blocks.attentionResidual(blocks.attention(layer, il, q, k, qkv[2], inputs), x, il, inputs);
        return new FeedForwardInput(ffnInput, blocks.rmsNorm(ffnInput, layer.ffnNorm()));
    }

    @Override
    public Tensor feedForward(GraphBlocks blocks, ModelWeights weights, int il, FeedForwardInput input, Tensor routedExperts) {
        GgmlContext ctx = blocks.ctx();
        LayerWeights layer = weights.layer(il);
        Tensor normed = input.normed();
        Tensor ffn = routedExperts != null
                ? ctx.add(routedExperts, blocks.gatedFeedForward(normed, layer.sharedGate(), layer.sharedUp(), layer.sharedDown()))
                : blocks.gatedFeedForward(normed, layer.ffnGate(), layer.ffnUp(), layer.ffnDown());
        return ctx.add(ffn, input.residual());
    }
}
