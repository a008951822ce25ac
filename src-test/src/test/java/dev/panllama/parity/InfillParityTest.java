package dev.panllama.parity;

import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufValue;
import dev.panllama.json.JsonReader;
import dev.panllama.json.JsonWriter;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.server.OpenAiServer;
import dev.panllama.server.ServerOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * llama-server's {@code /infill} (fill in the middle) against llama-server of the pinned tree, on random models
 * whose Llama 3 vocabulary names fill-in-the-middle tokens (CodeLlama's three, and also Qwen's repository and
 * file separators): the same prompt, token for token ({@code tokens_evaluated}, and its text), with a prefix and
 * a suffix longer than llama-server takes of them, other files' text, a prompt, and a prefix of texts and ids;
 * and the same greedy completion, whole and streamed. A model without the tokens is refused as llama-server refuses.
 */
class InfillParityTest {

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private static final int CONTEXT = 4096;

    @TempDir
    static Path temp;

    @Test
    void theInfillPromptAndCompletionAreLlamaServers() throws Exception {
        // Without and with the file tokens, prefix first; with them, suffix first too (--spm-infill).
        for (List<Boolean> variant : List.of(List.of(false, false), List.of(true, false), List.of(true, true))) {
            boolean separators = variant.get(0);
            boolean suffixFirst = variant.get(1);
            Map<String, GgufValue> tokens = new LinkedHashMap<>();
            tokens.put("tokenizer.ggml.fim_pre_token_id", GgufValue.ofUint32(128011));
            tokens.put("tokenizer.ggml.fim_suf_token_id", GgufValue.ofUint32(128012));
            tokens.put("tokenizer.ggml.fim_mid_token_id", GgufValue.ofUint32(128013));
            if (separators) {
                tokens.put("tokenizer.ggml.fim_rep_token_id", GgufValue.ofUint32(128014));
                tokens.put("tokenizer.ggml.fim_sep_token_id", GgufValue.ofUint32(128015));
            }
            Path file = temp.resolve("infill-" + separators + "-" + suffixFirst + ".gguf");
            RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 8).withTiedOutput(true),
                    UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), file, tokens);
            List<String> options = new java.util.ArrayList<>(List.of("-c", String.valueOf(CONTEXT), "-t", "2", "-np", "1", "--ctx-checkpoints", "0"));
            if (suffixFirst) {
                options.add("--spm-infill");
            }
            try (LlamaServerProcess theirs = LlamaServerProcess.start(file, temp.resolve("infill-" + separators + "-" + suffixFirst + ".log"),
                    options.toArray(String[]::new));
                 LlamaModel model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(CONTEXT));
                 OpenAiServer ours = OpenAiServer.start(model, ServerOptions.defaults("infill").withPort(0).withParallel(1)
                         .withSpmInfill(suffixFirst))) {
                String oursUrl = "http://127.0.0.1:" + ours.port();
                for (Map<String, Object> body : requests()) {
                    Map<String, Object> expected = fields(post(theirs.url(), body));
                    assertEquals(expected, fields(post(oursUrl, body)), "separators " + separators + ", suffix first " + suffixFirst + ": " + JsonWriter.write(body));
                    Map<String, Object> streamed = new HashMap<>(body);
                    streamed.put("stream", true);
                    assertEquals(expected.get("content"), streamedContent(oursUrl, streamed), "streamed");
                }
            }
        }
    }

    @Test
    void aModelWithoutFillInTheMiddleTokensIsRefused() throws Exception {
        Path file = temp.resolve("plain.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 8).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), file);
        try (LlamaModel model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(512));
             OpenAiServer ours = OpenAiServer.start(model, ServerOptions.defaults("plain").withPort(0))) {
            HttpResponse<String> refused = send("http://127.0.0.1:" + ours.port(), Map.of("input_prefix", "a", "input_suffix", "b"));
            assertEquals(501, refused.statusCode(), refused.body());
            assertTrue(refused.body().contains("Infill is not supported by this model: prefix token is missing. suffix token is missing."
                    + " middle token is missing."), refused.body());
        }
    }

    /** Prefixes and suffixes longer than llama-server takes (three quarters and one quarter of its 2048-token batch). */
    private static List<Map<String, Object>> requests() {
        StringBuilder before = new StringBuilder();
        for (int i = 0; i < 260; i++) {
            before.append("def area_").append(i).append("(r):\n    return 3.14159 * r * r + ").append(i).append("\n\n");
        }
        StringBuilder after = new StringBuilder();
        for (int i = 0; i < 90; i++) {
            after.append("print(area_").append(i).append("(2.5))  # größe\n");
        }
        List<Map<String, Object>> extra = List.of(Map.of("filename", "geometry/util.py", "text", "PI = 3.14159\n"),
                Map.of("text", "def square(x):\n    return x * x\n"));
        return List.of(
                Map.of("input_prefix", before.toString(), "input_suffix", after.toString(), "input_extra", extra, "prompt", "    ",
                        "n_predict", 6, "temperature", 0),
                Map.of("input_prefix", List.of("import math\n", 1917, "def f(x):"), "input_suffix", "\n    return y\n", "n_predict", 4,
                        "temperature", 0));
    }

    /** The fields of a reply that do not depend on timing or on the server's name for itself. */
    private static Map<String, Object> fields(Map<String, Object> reply) {
        Map<String, Object> fields = new LinkedHashMap<>();
        for (String name : List.of("content", "tokens_evaluated", "tokens_predicted", "prompt", "stop_type", "stop")) {
            fields.put(name, reply.get(name));
        }
        return fields;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> post(String base, Map<String, Object> body) throws Exception {
        HttpResponse<String> response = send(base, body);
        assertEquals(200, response.statusCode(), base + ": " + response.body());
        return (Map<String, Object>) JsonReader.parse(response.body());
    }

    private static String streamedContent(String base, Map<String, Object> body) throws Exception {
        HttpResponse<String> response = send(base, body);
        assertEquals(200, response.statusCode(), response.body());
        StringBuilder content = new StringBuilder();
        for (String line : response.body().split("\n")) {
            if (line.startsWith("data: ")) {
                content.append(((Map<?, ?>) JsonReader.parse(line.substring(6))).get("content"));
            }
        }
        return content.toString();
    }

    /** Posts {@code body} to {@code /infill}, the whole prompt evaluated (see {@link ServerParityTest}). */
    private static HttpResponse<String> send(String base, Map<String, Object> body) throws Exception {
        Map<String, Object> sent = new LinkedHashMap<>(body);
        sent.put("cache_prompt", false);
        return HTTP.send(HttpRequest.newBuilder(URI.create(base + "/infill")).timeout(Duration.ofMinutes(2))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(JsonWriter.write(sent))).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
