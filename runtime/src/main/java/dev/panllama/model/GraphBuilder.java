package dev.panllama.model;

import dev.panllama.ggml.Tensor;

/** Builds one architecture's forward graph for a micro-batch. */
public interface GraphBuilder {

    /**
     * Adds the forward pass to {@code blocks}' graph and returns its output rows ({@link GraphBlocks#output}): the
     * logits, F32 {@code [n_vocab, n_outputs]}, or the embeddings, {@code [n_embd, n_outputs]}.
     */
    Tensor build(GraphBlocks blocks, ModelWeights weights, GraphInputs inputs);

    /** The most tensors a graph of {@code config} can need, to size its context. */
    static int maxTensors(ModelConfig config) {
        return config.dims().layers() * (96 + 4 * config.experts().used()) + 64;
    }
}
