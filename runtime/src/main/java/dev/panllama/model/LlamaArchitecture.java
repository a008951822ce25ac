package dev.panllama.model;

import dev.panllama.gguf.GgufMetadata;

import java.util.Arrays;

/**
 * {@code llama}: Llama 2 and 3 (dense), and the Mixtral-style mixtures that share the name. RoPE on
 * every layer, global attention everywhere, softmax routing with renormalized weights.
 */
public final class LlamaArchitecture implements Architecture {

    @Override
    public String name() {
        return "llama";
    }

    @Override
    public ModelConfig configure(GgufMetadata metadata) {
        CommonHyperparameters common = CommonHyperparameters.read(name(), metadata);
        int layers = common.layers();
        boolean[] all = new boolean[layers];
        Arrays.fill(all, true);
        boolean[] moe = new boolean[layers];
        Arrays.fill(moe, common.experts() > 0);
        return new ModelConfig(name(), common.vocabSize(), common.contextLength(), common.embedding(), layers,
                common.heads(), common.kvHeads(), common.headSize(), common.feedForward(),
                common.experts(), common.expertsUsed(), common.feedForward(), ModelConfig.ExpertGating.SOFTMAX_NORMALIZED,
                false, common.expertWeightsScale(), common.rmsEpsilon(), common.queryKeyScale(),
                common.ropeBase(), common.ropeBase(), common.ropeDimensions(),
                0, new boolean[layers], all, moe, false, 0, 0f, 0f, false);
    }

    @Override
    public GraphBuilder graphBuilder() {
        return new LlamaGraph();
    }
}
