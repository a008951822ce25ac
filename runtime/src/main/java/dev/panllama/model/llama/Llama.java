package dev.panllama.model.llama;

import dev.panllama.gguf.GgufMetadata;
import dev.panllama.model.Architecture;
import dev.panllama.model.Dimensions;
import dev.panllama.model.Experts;
import dev.panllama.model.GraphBuilder;
import dev.panllama.model.LayerPlan;
import dev.panllama.model.LayerPlan.Attention;
import dev.panllama.model.LayerPlan.FeedForward;
import dev.panllama.model.LayerPlan.Positions;
import dev.panllama.model.ModelConfig;
import dev.panllama.model.WeightLists;
import dev.panllama.model.WeightSpec;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * {@code llama}: Llama 2 and 3 (dense), and the Mixtral-style mixtures that share the name. RoPE on
 * every layer, global attention everywhere, softmax routing with renormalized weights, experts as wide
 * as the dense block would be, no shared expert.
 */
public final class Llama implements Architecture {

    @Override
    public String name() {
        return "llama";
    }

    @Override
    public ModelConfig configure(GgufMetadata metadata) {
        Dimensions dims = Dimensions.read(name(), metadata);
        Experts experts = Dimensions.readExperts(name(), metadata, dims.feedForward(), Experts.Gating.SOFTMAX_NORMALIZED, false);
        LayerPlan.Layer layer = new LayerPlan.Layer(Attention.GLOBAL, Positions.ROPE,
                experts.count() > 0 ? FeedForward.EXPERTS : FeedForward.DENSE);
        return new ModelConfig(name(), dims, new LayerPlan(0, false, Collections.nCopies(dims.layers(), layer)), experts,
                dims.readRope(name(), metadata), Optional.empty());
    }

    /** Attention on every layer; a dense block, or the router and routed experts. */
    @Override
    public List<WeightSpec> weights(ModelConfig config) {
        List<WeightSpec> weights = new ArrayList<>(WeightLists.modelWide(config));
        for (int layer = 0; layer < config.plan().count(); layer++) {
            weights.addAll(WeightLists.attention(config, layer));
            weights.addAll(config.plan().isMoe(layer) ? WeightLists.routedExperts(config, layer) : WeightLists.feedForward(config, layer));
        }
        return weights;
    }

    @Override
    public GraphBuilder graph() {
        return new LlamaGraph();
    }
}
