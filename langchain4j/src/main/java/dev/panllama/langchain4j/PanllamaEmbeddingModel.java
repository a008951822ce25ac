package dev.panllama.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import dev.panllama.api.Embedder;
import dev.panllama.api.LlamaModel;

import java.util.ArrayList;
import java.util.List;

/**
 * A LangChain4j {@link EmbeddingModel} over a panllama model in this process (no HTTP): each segment's
 * text is embedded as the model's {@link Embedder} does (its hidden states pooled as {@code pooling} says,
 * normalized to Euclidean length 1, as llama.cpp's embeddings are), up to four segments in one batch. Close
 * it (or the model) to free its cache.
 *
 * <pre>{@code
 * try (LlamaModel model = LlamaModel.open(file, ModelOptions.defaults());
 *      PanllamaEmbeddingModel embeddings = new PanllamaEmbeddingModel(model, Embedder.Pooling.MEAN)) {
 *     float[] vector = embeddings.embed("Name three rivers.").content().vector();
 * }
 * }</pre>
 */
public final class PanllamaEmbeddingModel implements EmbeddingModel, AutoCloseable {

    private static final int BATCH_TEXTS = 4;

    private final LlamaModel model;
    private final Embedder embedder;
    private final String modelName;

    public PanllamaEmbeddingModel(LlamaModel model, Embedder.Pooling pooling) {
        this.model = model;
        this.embedder = model.newEmbedder(pooling, BATCH_TEXTS);
        this.modelName = ChatRequests.modelName(model);
    }

    /** The segments' embeddings, in their order, and the tokens read as the usage's input. */
    @Override
    public Response<List<Embedding>> embedAll(List<TextSegment> segments) {
        List<int[]> inputs = new ArrayList<>(segments.size());
        int tokens = 0;
        for (TextSegment segment : segments) {
            int[] input = model.tokenizer().encode(segment.text(), true, true);
            inputs.add(input);
            tokens += input.length;
        }
        List<Embedding> embeddings = embedder.embedTokens(inputs, Embedder.EUCLIDEAN).stream().map(Embedding::from).toList();
        return Response.from(embeddings, new TokenUsage(tokens));
    }

    @Override
    public int dimension() {
        return embedder.dimensions();
    }

    @Override
    public String modelName() {
        return modelName;
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    @Override
    public void close() {
        embedder.close();
    }
}
