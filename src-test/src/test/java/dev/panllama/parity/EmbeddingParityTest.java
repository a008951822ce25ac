package dev.panllama.parity;

import dev.panllama.api.Embedder;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.json.JsonReader;
import dev.panllama.json.JsonWriter;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.placement.ExpertCacheOptions;
import dev.panllama.placement.Offload;
import dev.panllama.server.OpenAiServer;
import dev.panllama.server.ServerOptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Embeddings against llama-server of the pinned tree started with {@code --embeddings --pooling P}, for
 * each pooling, on the same random-weight F32 model: the pooled vectors before normalization (its
 * {@code /embedding} with {@code embd_normalize} -1) and the normalized ones of OpenAI's
 * {@code /v1/embeddings} agree within 1e-5 of the vector's largest magnitude (measured: 3e-7 at most, the
 * first token's exactly), and so do the token counts. They are not bit for bit the same: llama.cpp computes
 * every token's row and pools in the graph (the mean as a matrix product), where panllama computes the rows
 * its pooling reads and sums them in Java, so the last layers' products run at other batch sizes.
 */
class EmbeddingParityTest {

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private static final int CONTEXT = 512;
    private static final List<String> TEXTS = List.of("Hello there", "The capital of France is Paris, and of Italy, Rome.",
            "Écris-le en français 🙂", SampleText.prose(3, 60));

    @TempDir
    static Path temp;
    static Path file;
    static LlamaModel model;

    @BeforeAll
    static void writeAndOpen() throws Exception {
        NativePin pin = NativePin.current();
        file = temp.resolve("embeddings.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.F32, 31).withTiedOutput(true),
                UserCache.user().vocabularies(pin).resolve("ggml-vocab-llama-bpe.gguf"), file);
        model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(CONTEXT));
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    @ParameterizedTest
    @EnumSource(Embedder.Pooling.class)
    @SuppressWarnings("unchecked")
    void pooledVectorsAreLlamaCpps(Embedder.Pooling pooling) throws Exception {
        String name = pooling.name().toLowerCase(Locale.ROOT);
        try (LlamaServerProcess theirs = LlamaServerProcess.start(file, temp.resolve("llama-server-" + name + ".log"),
                "-c", String.valueOf(CONTEXT), "-t", "2", "-np", "1", "--embeddings", "--pooling", name);
             OpenAiServer ours = OpenAiServer.start(model, ServerOptions.defaults("parity").withPort(0).withParallel(1).withPooling(pooling))) {
            String oursUrl = "http://127.0.0.1:" + ours.port();
            for (String text : TEXTS) {
                Map<String, Object> raw = Map.of("content", text, "embd_normalize", -1);
                assertClose(rawVector(post(theirs.url(), "/embedding", raw)), rawVector(post(oursUrl, "/embedding", raw)), pooling + ": " + text);
            }
            Map<String, Object> request = Map.of("input", TEXTS, "model", "parity");
            Map<String, Object> theirReply = (Map<String, Object>) post(theirs.url(), "/v1/embeddings", request);
            Map<String, Object> ourReply = (Map<String, Object>) post(oursUrl, "/v1/embeddings", request);
            List<Map<String, Object>> theirData = (List<Map<String, Object>>) theirReply.get("data");
            List<Map<String, Object>> ourData = (List<Map<String, Object>>) ourReply.get("data");
            assertEquals(TEXTS.size(), ourData.size());
            for (int i = 0; i < TEXTS.size(); i++) {
                assertEquals(((Number) theirData.get(i).get("index")).intValue(), ((Number) ourData.get(i).get("index")).intValue());
                assertClose(floats((List<Number>) theirData.get(i).get("embedding")), floats((List<Number>) ourData.get(i).get("embedding")),
                        pooling + " normalized: " + TEXTS.get(i));
            }
            assertEquals(((Map<?, ?>) theirReply.get("usage")).get("prompt_tokens"), ((Map<?, ?>) ourReply.get("usage")).get("prompt_tokens"));
        }
    }

    /**
     * A model on a second device (ggml's RPC server standing in for a GPU): every layer there, its embedder's cache
     * all in host memory (the device tier is left to the model's own cache), and again with its routed experts in
     * host memory behind an expert cache (the forward pass in segments): the same vectors as the model on the CPU.
     */
    @org.junit.jupiter.api.Test
    void aModelOnAnotherDeviceGivesTheSameVectors() throws Exception {
        List<float[]> expected;
        try (Embedder embedder = model.newEmbedder(Embedder.Pooling.MEAN, 2)) {
            expected = embedder.embed(TEXTS, -1);
        }
        RpcServerProcess server = RpcServerProcess.shared();
        ModelOptions onDevice = ModelOptions.defaults().withThreads(2).withContextLength(CONTEXT)
                .withRpcServers(List.of(server.endpoint())).withOffload(Offload.all());
        for (ModelOptions options : List.of(onDevice, onDevice.withOffload(Offload.all().withCpuMoe(true))
                .withExpertCache(ExpertCacheOptions.parse("8MiB")))) {
            try (LlamaModel offloaded = LlamaModel.open(file, options); Embedder embedder = offloaded.newEmbedder(Embedder.Pooling.MEAN, 2)) {
                List<float[]> actual = embedder.embed(TEXTS, -1);
                assertEquals(!options.expertCache().equals(ExpertCacheOptions.OFF), offloaded.expertCacheDescription().isPresent(), "the expert cache is in use");
                for (int i = 0; i < TEXTS.size(); i++) {
                    assertClose(expected.get(i), actual.get(i), offloaded.expertCacheDescription().orElse("all on RPC") + ": " + TEXTS.get(i));
                }
            }
        }
    }

    /** The one pooled row of llama-server's {@code /embedding} reply for one text. */
    @SuppressWarnings("unchecked")
    private static float[] rawVector(Object reply) {
        List<Map<String, Object>> entries = (List<Map<String, Object>>) reply;
        List<List<Number>> rows = (List<List<Number>>) entries.getFirst().get("embedding");
        assertEquals(1, rows.size());
        return floats(rows.getFirst());
    }

    private static float[] floats(List<Number> values) {
        float[] vector = new float[values.size()];
        for (int i = 0; i < vector.length; i++) {
            vector[i] = values.get(i).floatValue();
        }
        return vector;
    }

    private static void assertClose(float[] theirs, float[] ours, String what) {
        assertEquals(theirs.length, ours.length, what);
        float largest = 0;
        float worst = 0;
        for (int i = 0; i < theirs.length; i++) {
            largest = Math.max(largest, Math.abs(theirs[i]));
            worst = Math.max(worst, Math.abs(theirs[i] - ours[i]));
        }
        assertTrue(largest > 0, what);
        assertTrue(worst <= 1e-5 * largest, what + ": differs by " + worst + " of " + largest);
    }

    private static Object post(String base, String path, Map<String, Object> body) throws Exception {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofMinutes(2))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(JsonWriter.write(body))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), base + path + ": " + response.body());
        return JsonReader.parse(response.body());
    }
}
