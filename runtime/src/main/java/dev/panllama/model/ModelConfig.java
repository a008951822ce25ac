package dev.panllama.model;

import java.util.Optional;

/**
 * A model's hyperparameters, resolved: what its GGUF says, completed with its family's fixed rules, so
 * that the graph code only reads fields. Each part is a small record of its own, named by what it
 * describes.
 *
 * @param architecture      the GGUF's {@code general.architecture}
 * @param dims              sizes of the vocabulary, context, embedding, attention heads and feed-forward blocks
 * @param plan              what each layer is: chunked or global attention, RoPE or NoPE, dense or MoE
 * @param experts           the mixture of experts; {@link Experts#NONE} for a dense model
 * @param rope              rotary position embedding
 * @param temperatureTuning the query scale of NoPE layers, where the family has one
 */
public record ModelConfig(String architecture, Dimensions dims, LayerPlan plan, Experts experts, RotaryEmbedding rope,
                          Optional<TemperatureTuning> temperatureTuning) {
}
