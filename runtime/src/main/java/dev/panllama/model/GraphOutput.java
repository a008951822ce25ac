package dev.panllama.model;

/**
 * What a forward graph gives per output token: the logits of the output head, or the hidden state
 * after the final norm that the head would read (llama.cpp's embeddings, its {@code result_norm}),
 * which sentence embeddings pool.
 */
public enum GraphOutput {

    LOGITS,
    EMBEDDINGS;

    /** The floats of one output row: the vocabulary's size, or the embedding's. */
    public int width(Dimensions dims) {
        return this == LOGITS ? dims.vocabSize() : dims.embedding();
    }
}
