package dev.panllama.model;

/**
 * The hyperparameters of a Llama family model, resolved per layer: what its GGUF says, completed with
 * the architecture's fixed choices, so the graph code only reads fields.
 *
 * @param chunkSize         tokens per attention chunk on chunked layers; 0 when no layer is chunked
 * @param chunkedLayers     layers with chunked local attention (the others attend globally)
 * @param ropeLayers        layers that rotate Q and K; the others (Llama 4's NoPE layers) do not
 * @param moeLayers         layers whose feed-forward block is a mixture of experts
 * @param temperatureTuning NoPE layers scale their queries by {@code log(floor((pos + offset) / floor) + 1) * scale + 1}
 * @param qkNorm            RoPE layers apply an RMS norm without weights to Q and K
 */
public record ModelConfig(
        String architecture, int vocabSize, int contextLength, int embedding, int layers,
        int heads, int kvHeads, int headSize, int feedForward,
        int experts, int expertsUsed, int expertFeedForward, ExpertGating gating, boolean sharedExpert,
        float expertWeightsScale, float rmsEpsilon, float attentionScale,
        float ropeBase, float ropeBaseChunked, int ropeDimensions,
        int chunkSize, boolean[] chunkedLayers, boolean[] ropeLayers, boolean[] moeLayers,
        boolean temperatureTuning, int temperatureFloorScale, float temperatureScale, float temperatureOffset,
        boolean qkNorm) {

    /** How a router's logits become expert weights. */
    public enum ExpertGating {
        /** Softmax over all experts, top-k picked, the k weights renormalized (Mixtral, Llama MoE). */
        SOFTMAX_NORMALIZED,
        /** Top-k by logit, each weight the sigmoid of its logit, applied to the expert's input (Llama 4). */
        SIGMOID_BEFORE_EXPERTS
    }

    public ModelConfig {
        chunkedLayers = chunkedLayers.clone();
        ropeLayers = ropeLayers.clone();
        moeLayers = moeLayers.clone();
    }

    public boolean isChunked(int layer) {
        return chunkedLayers[layer];
    }

    public boolean usesRope(int layer) {
        return ropeLayers[layer];
    }

    public boolean isMoe(int layer) {
        return moeLayers[layer];
    }

    public boolean hasChunkedLayers() {
        for (boolean chunked : chunkedLayers) {
            if (chunked) {
                return true;
            }
        }
        return false;
    }

    public int queryWidth() {
        return heads * headSize;
    }

    public int kvWidth() {
        return kvHeads * headSize;
    }

    /** The query scale of a NoPE layer at {@code position}, when temperature tuning is on. */
    public float temperature(long position) {
        return (float) (Math.log(Math.floor((position + temperatureOffset) / temperatureFloorScale) + 1.0) * temperatureScale + 1.0);
    }
}
