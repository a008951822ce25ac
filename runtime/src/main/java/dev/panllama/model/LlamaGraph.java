package dev.panllama.model;

import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.Tensor;

/**
 * The Llama 2/3 forward pass (llama.cpp: {@code src/models/llama.cpp}): RoPE and global attention on
 * every layer, dense feed-forward blocks or softmax-routed experts.
 */
final class LlamaGraph implements GraphBuilder {

    @Override
    public Tensor build(GraphBlocks blocks, ModelWeights weights, BatchInputs inputs) {
        GgmlContext ctx = blocks.ctx();
        ModelConfig config = blocks.config();
        Tensor x = ctx.getRows(weights.tokenEmbedding(), inputs.tokens);
        for (int il = 0; il < config.layers(); il++) {
            LayerWeights layer = weights.layer(il);
            Tensor residual = x;
            Tensor[] qkv = blocks.qkv(layer, blocks.rmsNorm(x, layer.attnNorm()));
            Tensor q = blocks.rope(qkv[0], inputs, weights.ropeFactors(), il);
            Tensor k = blocks.rope(qkv[1], inputs, weights.ropeFactors(), il);
            Tensor attended = blocks.attention(layer, il, q, k, qkv[2], inputs);
            if (il == config.layers() - 1) {
                attended = ctx.getRows(attended, inputs.outputRows);
                residual = ctx.getRows(residual, inputs.outputRows);
            }
            Tensor ffnInput = ctx.add(attended, residual);
            Tensor normed = blocks.rmsNorm(ffnInput, layer.ffnNorm());
            Tensor ffn = config.isMoe(il)
                    ? blocks.experts(layer, normed)
                    : blocks.gatedFeedForward(normed, layer.ffnGate(), layer.ffnUp(), layer.ffnDown());
            x = ctx.add(ffn, ffnInput);
        }
        return blocks.logits(weights, x);
    }
}
