package dev.panllama.model;

/**
 * A mixture-of-experts feed-forward block: how many experts, how many each token uses, their width, how
 * router logits become weights, and whether a shared expert runs beside them.
 *
 * @param weightsScale a factor on the expert weights; 0 or 1 for none
 */
public record Experts(int count, int used, int feedForward, Gating gating, boolean shared, float weightsScale) {

    /** A dense model's: no experts. */
    public static final Experts NONE = new Experts(0, 0, 0, Gating.SOFTMAX_NORMALIZED, false, 0f);

    /** How a router's logits become expert weights. */
    public enum Gating {
        /** Softmax over all experts, top-k picked, the k weights renormalized (Mixtral, Llama MoE). */
        SOFTMAX_NORMALIZED,
        /** Top-k by logit, each weight the sigmoid of its logit, applied to the expert's input (Llama 4). */
        SIGMOID_BEFORE_EXPERTS
    }
}
