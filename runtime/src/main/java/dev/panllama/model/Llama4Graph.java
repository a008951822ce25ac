package dev.panllama.model;

import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.Tensor;

/**
 * The Llama 4 forward pass (llama.cpp: {@code src/models/llama4.cpp}). Per layer: RMS norm;
 * Q, K, V; on RoPE layers rotation then (unless Maverick) an RMS norm of Q and K; on NoPE layers
 * queries scaled by the attention temperature; attention over the chunk (chunked layers) or the
 * whole context (global layers); then a dense feed-forward block or routed experts plus the shared
 * expert.
 */
final class Llama4Graph implements GraphBuilder {

    @Override
    public Tensor build(GraphBlocks blocks, ModelWeights weights, BatchInputs inputs) {
        GgmlContext ctx = blocks.ctx();
        ModelConfig config = blocks.config();
        Tensor x = ctx.getRows(weights.tokenEmbedding(), inputs.tokens);        // [n_embd, n_tokens]
        for (int il = 0; il < config.layers(); il++) {
            LayerWeights layer = weights.layer(il);
            Tensor residual = x;
            Tensor[] qkv = blocks.qkv(layer, blocks.rmsNorm(x, layer.attnNorm()));
            Tensor q = qkv[0], k = qkv[1];
            if (config.usesRope(il)) {
                q = blocks.rope(q, inputs, weights.ropeFactors(), il);
                k = blocks.rope(k, inputs, weights.ropeFactors(), il);
                if (config.qkNorm()) {
                    q = ctx.rmsNorm(q, config.rmsEpsilon());
                    k = ctx.rmsNorm(k, config.rmsEpsilon());
                }
            } else if (inputs.temperature != null) {
                q = ctx.mul(q, inputs.temperature);
            }
            Tensor attended = blocks.attention(layer, il, q, k, qkv[2], inputs);
            if (il == config.layers() - 1) {
                // Only the rows whose logits are wanted go on through the last feed-forward block.
                attended = ctx.getRows(attended, inputs.outputRows);
                residual = ctx.getRows(residual, inputs.outputRows);
            }
            Tensor ffnInput = ctx.add(attended, residual);
            Tensor normed = blocks.rmsNorm(ffnInput, layer.ffnNorm());
            Tensor ffn = config.isMoe(il)
                    ? ctx.add(blocks.experts(layer, normed),
                              blocks.gatedFeedForward(normed, layer.sharedGate(), layer.sharedUp(), layer.sharedDown()))
                    : blocks.gatedFeedForward(normed, layer.ffnGate(), layer.ffnUp(), layer.ffnDown());
            x = ctx.add(ffn, ffnInput);
        }
        return blocks.logits(weights, x);
    }
}
