package dev.panllama.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.store.embedding.EmbeddingSearchRequest;
import dev.langchain4j.store.embedding.EmbeddingMatch;
import dev.langchain4j.store.embedding.inmemory.InMemoryEmbeddingStore;
import dev.panllama.api.Embedder;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The embedding model driven through LangChain4j's own API: its vectors are the facade's, its usage the
 * tokens read, and an in-memory embedding store finds each stored text by its own embedding first.
 */
class PanllamaEmbeddingModelTest {

    static final List<String> TEXTS = List.of("Rivers of Europe", "How to bake bread", "The rules of chess", "Weather in Lisbon",
            "A short poem about cats");

    @TempDir
    static Path temp;
    static LlamaModel model;

    @BeforeAll
    static void openModel() throws IOException {
        Path file = temp.resolve("embed.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 5).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), file);
        model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(256));
    }

    @AfterAll
    static void closeModel() {
        model.close();
    }

    @Test
    void vectorsAreTheFacadesAndAStoreFindsEachTextByItsOwn() {
        List<TextSegment> segments = TEXTS.stream().map(TextSegment::from).toList();
        try (PanllamaEmbeddingModel embeddings = new PanllamaEmbeddingModel(model, Embedder.Pooling.MEAN);
             Embedder facade = model.newEmbedder(Embedder.Pooling.MEAN, 1)) {
            var response = embeddings.embedAll(segments);
            List<Embedding> vectors = response.content();
            int tokens = 0;
            for (int i = 0; i < TEXTS.size(); i++) {
                assertArrayEquals(facade.embed(TEXTS.get(i)), vectors.get(i).vector(), 1e-6f, TEXTS.get(i));
                tokens += model.tokenizer().encode(TEXTS.get(i), true, true).length;
            }
            assertEquals(tokens, response.tokenUsage().inputTokenCount());
            assertEquals(model.config().dims().embedding(), embeddings.dimension());

            InMemoryEmbeddingStore<TextSegment> store = new InMemoryEmbeddingStore<>();
            store.addAll(vectors, segments);
            for (String text : TEXTS) {
                List<EmbeddingMatch<TextSegment>> found = store.search(EmbeddingSearchRequest.builder()
                        .queryEmbedding(embeddings.embed(text).content()).maxResults(1).build()).matches();
                assertEquals(text, found.getFirst().embedded().text());
                assertEquals(1.0, found.getFirst().score(), 1e-5);
            }
        }
    }
}
