package dev.panllama.server;

import com.openai.client.OpenAIClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.ollama.OllamaEmbeddingModel;
import dev.langchain4j.model.openai.OpenAiEmbeddingModel;
import dev.panllama.api.Embedder;
import dev.panllama.json.JsonReader;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Embeddings served in OpenAI's, Ollama's and llama-server's shapes, driven by OpenAI's SDK and
 * LangChain4j's OpenAI and Ollama embedding models: each vector equals the Java API's {@link Embedder} for
 * the same text (mean pooling, Euclidean length 1), as floats and as base64; llama-server's
 * {@code embd_normalize} gives the raw mean; embeddings asked for while a reply is generated leave that
 * reply as it was; what cannot be embedded gets the API's error.
 */
class EmbeddingServingTest extends ClientComparison {

    static final List<String> TEXTS = List.of("The weather in Paris", "A cat sat on the mat", "Hello there");
    static List<float[]> expectedVectors;
    static float[] rawFirst;

    @BeforeAll
    static void embedThroughTheFacade() {
        try (Embedder embedder = model.newEmbedder(Embedder.Pooling.MEAN, 2)) {
            expectedVectors = embedder.embed(TEXTS, Embedder.EUCLIDEAN);
            rawFirst = embedder.embed(TEXTS.subList(0, 1), -1).getFirst();
        }
    }

    static float[] floats(List<Float> values) {
        float[] vector = new float[values.size()];
        for (int i = 0; i < vector.length; i++) {
            vector[i] = values.get(i);
        }
        return vector;
    }

    @Test
    void openAisSdkGetsTheFacadesVectors() {
        try (OpenAiServer server = start(null)) {
            OpenAIClient client = OpenAiJavaClientTest.client(server, "unused");
            for (EmbeddingCreateParams.EncodingFormat format : List.of(EmbeddingCreateParams.EncodingFormat.FLOAT,
                    EmbeddingCreateParams.EncodingFormat.BASE64)) {
                CreateEmbeddingResponse response = client.embeddings().create(EmbeddingCreateParams.builder().model(TestModel.ID)
                        .inputOfArrayOfStrings(TEXTS).encodingFormat(format).build());
                assertEquals(TEXTS.size(), response.data().size());
                for (int i = 0; i < TEXTS.size(); i++) {
                    assertEquals(i, response.data().get(i).index());
                    assertArrayEquals(expectedVectors.get(i), floats(response.data().get(i).embedding()), 1e-6f, format + " text " + i);
                }
                int tokens = TEXTS.stream().mapToInt(text -> model.tokenizer().encode(text, true, true).length).sum();
                assertEquals(tokens, response.usage().promptTokens());
            }
            client.close();
        }
    }

    @Test
    void langChain4jsOpenAiAndOllamaEmbeddingModelsGetTheFacadesVectors() {
        try (OpenAiServer server = start(null)) {
            String base = "http://127.0.0.1:" + server.port();
            List<TextSegment> segments = TEXTS.stream().map(TextSegment::from).toList();
            List<Embedding> openAi = OpenAiEmbeddingModel.builder().baseUrl(base + "/v1").apiKey("unused").modelName(TestModel.ID)
                    .build().embedAll(segments).content();
            List<Embedding> ollama = OllamaEmbeddingModel.builder().baseUrl(base).modelName(TestModel.ID).build().embedAll(segments)
                    .content();
            for (int i = 0; i < TEXTS.size(); i++) {
                assertArrayEquals(expectedVectors.get(i), openAi.get(i).vector(), 1e-6f, "OpenAI module, text " + i);
                assertArrayEquals(expectedVectors.get(i), ollama.get(i).vector(), 1e-6f, "Ollama module, text " + i);
            }
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void llamaServersAndOllamasOwnShapes() throws Exception {
        try (OpenAiServer server = start(null)) {
            HttpResponse<String> raw = OpenAiServerTest.post(server, "/embedding",
                    "{\"content\":\"" + TEXTS.getFirst() + "\",\"embd_normalize\":-1}");
            assertEquals(200, raw.statusCode(), raw.body());
            List<Map<String, Object>> entries = (List<Map<String, Object>>) JsonReader.parse(raw.body());
            assertEquals(0, ((Number) entries.getFirst().get("index")).intValue());
            List<List<Number>> rows = (List<List<Number>>) entries.getFirst().get("embedding");
            assertEquals(1, rows.size(), "one pooled row");
            float[] vector = new float[rows.getFirst().size()];
            for (int i = 0; i < vector.length; i++) {
                vector[i] = rows.getFirst().get(i).floatValue();
            }
            assertArrayEquals(rawFirst, vector, 1e-6f * maxAbs(rawFirst), "the mean, not normalized");

            HttpResponse<String> old = OpenAiServerTest.post(server, "/api/embeddings",
                    "{\"model\":\"" + TestModel.ID + ":latest\",\"prompt\":\"" + TEXTS.get(1) + "\"}");
            List<Number> embedding = (List<Number>) OpenAiServerTest.json(old.body()).get("embedding");
            assertEquals(expectedVectors.get(1)[0], embedding.getFirst().floatValue(), 1e-6f);
            HttpResponse<String> wrong = OpenAiServerTest.post(server, "/api/embed", "{\"model\":\"llama3\",\"input\":\"Hi\"}");
            assertEquals(404, wrong.statusCode());
            assertTrue(OpenAiServerTest.json(wrong.body()).get("error") instanceof String, wrong.body());
        }
    }

    private static float maxAbs(float[] vector) {
        float max = 0;
        for (float x : vector) {
            max = Math.max(max, Math.abs(x));
        }
        return max;
    }

    @Test
    void embeddingsWhileAReplyIsGeneratedLeaveItAsItWas() throws Exception {
        try (OpenAiServer server = start(null)) {
            OpenAIClient client = OpenAiJavaClientTest.client(server, "unused");
            CompletableFuture<String> reply = CompletableFuture.supplyAsync(() -> {
                StringBuilder text = new StringBuilder();
                try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
                        OpenAiJavaClientTest.greedy().build())) {
                    stream.stream().forEach(chunk -> chunk.choices().forEach(choice -> choice.delta().content().ifPresent(text::append)));
                }
                return text.toString();
            });
            List<float[]> during = new ArrayList<>();
            while (!reply.isDone()) {
                during.add(floats(client.embeddings().create(EmbeddingCreateParams.builder().model(TestModel.ID)
                        .input(TEXTS.get(2)).build()).data().getFirst().embedding()));
            }
            assertEquals(expected, reply.get());
            for (float[] vector : during) {
                assertArrayEquals(expectedVectors.get(2), vector, 1e-6f);
            }
            client.close();
        }
    }

    @Test
    void whatCannotBeEmbeddedGetsTheApisError() throws Exception {
        Map<String, String> bad = Map.of(
                "{\"input\":\"" + "word ".repeat(TestModel.CONTEXT) + "\"}", "input",
                "{\"input\":\"Hi\",\"dimensions\":7}", "dimensions",
                "{\"input\":[1, \"two\"]}", "input[0]",
                "{\"input\":[[1, 999999999]]}", "input[0]",
                "{\"input\":\"Hi\",\"encoding_format\":\"int8\"}", "encoding_format");
        try (OpenAiServer server = start(null)) {
            for (Map.Entry<String, String> body : bad.entrySet()) {
                HttpResponse<String> response = OpenAiServerTest.post(server, "/v1/embeddings", body.getKey());
                assertEquals(400, response.statusCode(), response.body());
                assertEquals(body.getValue(), OpenAiServerTest.error(response).get("param"), response.body());
            }
            OpenAIClient client = OpenAiJavaClientTest.client(server, "unused");
            BadRequestException tooLong = org.junit.jupiter.api.Assertions.assertThrows(BadRequestException.class,
                    () -> client.embeddings().create(EmbeddingCreateParams.builder().model(TestModel.ID)
                            .input("word ".repeat(TestModel.CONTEXT)).build()));
            assertEquals("context_length_exceeded", tooLong.code().orElseThrow());
            HttpResponse<String> truncated = OpenAiServerTest.post(server, "/api/embed",
                    "{\"model\":\"" + TestModel.ID + "\",\"input\":\"" + "word ".repeat(TestModel.CONTEXT) + "\"}");
            assertEquals(200, truncated.statusCode(), "Ollama cuts a long input to the context by default");
            assertEquals(TestModel.CONTEXT, ((Number) OpenAiServerTest.json(truncated.body()).get("prompt_eval_count")).intValue());
            client.close();
        }
    }
}
