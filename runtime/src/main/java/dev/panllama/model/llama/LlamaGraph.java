package dev.panllama.model.llama;

import dev.panllama.ggml.Tensor;
import dev.panllama.model.GraphBlocks;
import dev.panllama.model.GraphBuilder;
import dev.panllama.model.GraphInputs;
import dev.panllama.model.LayerPlan;
import dev.panllama.model.LayerWeights;
import dev.panllama.model.ModelWeights;

/**
 * The Llama 2/3 forward pass (llama.cpp: {@code src/models/llama.cpp}): RoPE and global attention on
 * every layer, dense feed-forward blocks or softmax-routed experts.
 */
final class LlamaGraph implements GraphBuilder {

    @Override
    public Tensor build(GraphBlocks blocks, ModelWeights weights, GraphInputs inputs) {
        LayerPlan plan = blocks.config().plan();
        Tensor x = blocks.embed(weights, inputs);
        for (int il = 0; il < plan.count(); il++) {
            LayerWeights layer = weights.layer(il);
            Tensor[] qkv = blocks.qkv(layer, blocks.rmsNorm(x, layer.attnNorm()));
            Tensor q = blocks.rope(qkv[0], inputs, weights.ropeFactors(), il);
            Tensor k = blocks.rope(qkv[1], inputs, weights.ropeFactors(), il);
            Tensor ffnInput = blocks.attentionResidual(blocks.attention(layer, il, q, k, qkv[2], inputs), x, il, inputs);
            Tensor normed = blocks.rmsNorm(ffnInput, layer.ffnNorm());
            Tensor ffn = plan.isMoe(il)
                    ? blocks.experts(layer, il, normed)
                    : blocks.gatedFeedForward(normed, layer.ffnGate(), layer.ffnUp(), layer.ffnDown());
            x = blocks.ctx().add(ffn, ffnInput);
        }
        return blocks.output(weights, x);
    }
}
