package dev.panllama.model.demo;

import dev.panllama.ggml.GgmlType;

import java.util.Objects;

/**
 * The shape of a random-weight model: the Llama 4 (or dense Llama) hyperparameters, the weight type
 * and the seed. Models made from the same spec are identical, byte for byte.
 *
 * @param slidingWindow     llama4 chunk size to write, or -1 to leave the key out (llama.cpp then uses
 *                          8192); 0 writes "no chunked attention"
 * @param windowPattern     llama4 chunked/global layer pattern (every N-th layer global), or 0 to
 *                          leave the key out (llama.cpp's default is 4)
 * @param separableRouting  token embeddings carry a strong feature per expert that the router reads,
 *                          so routing decisions have clear margins
 * @param topicSkew         with separable routing, when positive: the expert a token's feature names is
 *                          drawn from a Zipf distribution of this exponent over the experts, in an order
 *                          that depends on the token's topic (the first half of the vocabulary prefers
 *                          expert 0, then 1, ...; the second half the last expert, then the one before),
 *                          so that routing is skewed as real routing is and the skew follows the topic;
 *                          0 names experts evenly
 */
public record RandomModelSpec(
        String architecture, int layers, int embedding, int heads, int kvHeads, int headSize,
        int feedForward, int experts, int expertsUsed, int expertFeedForward, int moeLayerStep,
        int slidingWindow, int windowPattern, int contextLength, float ropeBase, float rmsEpsilon,
        GgmlType weightType, boolean tiedOutput, boolean separableRouting, String preTokenizer, long seed, double topicSkew) {

    public RandomModelSpec {
        Objects.requireNonNull(architecture);
        Objects.requireNonNull(weightType);
        if (!architecture.equals("llama4") && !architecture.equals("llama")) {
            throw new IllegalArgumentException("random models are llama4 or llama, not " + architecture);
        }
        if (layers < 1 || embedding < 1 || heads < 1 || kvHeads < 1 || heads % kvHeads != 0 || headSize < 2) {
            throw new IllegalArgumentException("bad attention shape");
        }
        if (experts > 0 && (expertsUsed < 1 || expertsUsed > experts || moeLayerStep < 1)) {
            throw new IllegalArgumentException("bad expert shape");
        }
        if (topicSkew < 0 || (topicSkew > 0 && !separableRouting)) {
            throw new IllegalArgumentException("a topic skew must be positive, and needs separable routing");
        }
    }

    /** A spec without topic skew: experts named evenly. */
    public RandomModelSpec(String architecture, int layers, int embedding, int heads, int kvHeads, int headSize,
                           int feedForward, int experts, int expertsUsed, int expertFeedForward, int moeLayerStep,
                           int slidingWindow, int windowPattern, int contextLength, float ropeBase, float rmsEpsilon,
                           GgmlType weightType, boolean tiedOutput, boolean separableRouting, String preTokenizer, long seed) {
        this(architecture, layers, embedding, heads, kvHeads, headSize, feedForward, experts, expertsUsed, expertFeedForward,
                moeLayerStep, slidingWindow, windowPattern, contextLength, ropeBase, rmsEpsilon, weightType, tiedOutput,
                separableRouting, preTokenizer, seed, 0);
    }

    /** A small Scout-like model: every layer MoE, 3 chunked layers to 1 global, top-1 routing. */
    public static RandomModelSpec scoutLike(GgmlType weightType, long seed) {
        return new RandomModelSpec("llama4", 4, 256, 8, 1, 128, 512, 4, 1, 256, 1, -1, 0, 16384,
                500000f, 1e-5f, weightType, false, true, "llama4", seed);
    }

    public RandomModelSpec withLayers(int layers) {
        return new RandomModelSpec(architecture, layers, embedding, heads, kvHeads, headSize, feedForward, experts,
                expertsUsed, expertFeedForward, moeLayerStep, slidingWindow, windowPattern, contextLength, ropeBase,
                rmsEpsilon, weightType, tiedOutput, separableRouting, preTokenizer, seed, topicSkew);
    }

    public RandomModelSpec withExperts(int experts, int expertsUsed, int moeLayerStep) {
        return new RandomModelSpec(architecture, layers, embedding, heads, kvHeads, headSize, feedForward, experts,
                expertsUsed, expertFeedForward, moeLayerStep, slidingWindow, windowPattern, contextLength, ropeBase,
                rmsEpsilon, weightType, tiedOutput, separableRouting, preTokenizer, seed, topicSkew);
    }

    public RandomModelSpec withWindow(int slidingWindow, int windowPattern) {
        return new RandomModelSpec(architecture, layers, embedding, heads, kvHeads, headSize, feedForward, experts,
                expertsUsed, expertFeedForward, moeLayerStep, slidingWindow, windowPattern, contextLength, ropeBase,
                rmsEpsilon, weightType, tiedOutput, separableRouting, preTokenizer, seed, topicSkew);
    }

    public RandomModelSpec withTiedOutput(boolean tiedOutput) {
        return new RandomModelSpec(architecture, layers, embedding, heads, kvHeads, headSize, feedForward, experts,
                expertsUsed, expertFeedForward, moeLayerStep, slidingWindow, windowPattern, contextLength, ropeBase,
                rmsEpsilon, weightType, tiedOutput, separableRouting, preTokenizer, seed, topicSkew);
    }

    public RandomModelSpec withSeparableRouting(boolean separableRouting) {
        return new RandomModelSpec(architecture, layers, embedding, heads, kvHeads, headSize, feedForward, experts,
                expertsUsed, expertFeedForward, moeLayerStep, slidingWindow, windowPattern, contextLength, ropeBase,
                rmsEpsilon, weightType, tiedOutput, separableRouting, preTokenizer, seed, topicSkew);
    }

    public RandomModelSpec withTopicSkew(double topicSkew) {
        return new RandomModelSpec(architecture, layers, embedding, heads, kvHeads, headSize, feedForward, experts,
                expertsUsed, expertFeedForward, moeLayerStep, slidingWindow, windowPattern, contextLength, ropeBase,
                rmsEpsilon, weightType, tiedOutput, true, preTokenizer, seed, topicSkew);
    }

    /** A dense Llama 3 style model of the same size (architecture {@code llama}, no experts). */
    public RandomModelSpec asDenseLlama() {
        return new RandomModelSpec("llama", layers, embedding, heads, kvHeads, headSize, feedForward, 0, 0, 0, 1,
                -1, 0, contextLength, ropeBase, rmsEpsilon, weightType, tiedOutput, false, "llama-bpe", seed);
    }
}
