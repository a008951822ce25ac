package dev.panllama.convert;

import dev.panllama.gguf.GgufWriter;
import dev.panllama.model.WeightSpec;

import java.util.Optional;

/**
 * Llama 3 (and 3.1 to 3.3): dense layers. Hugging Face's RoPE rotates the two halves of each head,
 * ggml's normal RoPE interleaved pairs, so Q and K rows are reordered as llama.cpp's converter does.
 */
final class LlamaLayout extends CheckpointLayout {

    private final int feedForward;

    LlamaLayout(HfConfig config) {
        super(config);
        this.feedForward = config.requireInt("intermediate_size");
    }

    @Override
    String architecture() {
        return "llama";
    }

    @Override
    int feedForwardLength() {
        return feedForward;
    }

    @Override
    int experts() {
        return 0;
    }

    @Override
    void putArchitectureMetadata(GgufWriter writer) {
        // Nothing beyond the shared keys: a dense Llama has no experts.
    }

    @Override
    boolean interleavesRope() {
        return true;
    }

    @Override
    Optional<PlannedTensor> planFamilyWeight(WeightSpec weight, Tensors tensors) {
        return Optional.of(feedForwardWeight(weight, tensors, "model.layers." + weight.layer() + ".mlp."));
    }
}
