package dev.panllama.server;

import com.github.erosb.jsonsKema.JsonParser;
import com.github.erosb.jsonsKema.PrimitiveValidationStrategy;
import com.github.erosb.jsonsKema.SchemaLoader;
import com.github.erosb.jsonsKema.ValidationFailure;
import com.github.erosb.jsonsKema.Validator;
import com.github.erosb.jsonsKema.ValidatorConfig;
import dev.panllama.bindings.ReservedMemory;
import dev.panllama.json.JsonReader;
import dev.panllama.json.JsonWriter;
import dev.panllama.model.Dimensions;
import dev.panllama.structured.JsonSchema;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The server over raw HTTP: replies, streams, limits, errors as OpenAI's JSON, and cancellation by disconnecting. */
class OpenAiServerTest extends ServedModel {

    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    static final String GREEDY_CHAT = JsonWriter.write(Map.of("model", TestModel.ID, "temperature", 0, "max_tokens", TestModel.REPLY_TOKENS,
            "messages", List.of(Map.of("role", "system", "content", TestModel.SYSTEM), Map.of("role", "user", "content", TestModel.USER))));

    static OpenAiServer start(ServerOptions options) {
        return OpenAiServer.start(model, options.withPort(0));
    }

    static ServerOptions options() {
        return ServerOptions.defaults(TestModel.ID);
    }

    static HttpResponse<String> send(OpenAiServer server, String method, String path, String body, String key)
            throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .timeout(Duration.ofSeconds(60))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            request.header("Content-Type", "application/json");
        }
        if (key != null) {
            request.header("Authorization", "Bearer " + key);
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> post(OpenAiServer server, String path, String body) throws IOException, InterruptedException {
        return send(server, "POST", path, body, null);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> json(String text) {
        return (Map<String, Object>) JsonReader.parse(text);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> error(HttpResponse<String> response) {
        Map<String, Object> error = (Map<String, Object>) json(response.body()).get("error");
        assertTrue(error.keySet().containsAll(List.of("message", "type", "param", "code")), response.body());
        assertTrue(error.get("message") instanceof String message && !message.isBlank(), response.body());
        return error;
    }

    @Test
    @SuppressWarnings("unchecked")
    void greedyChatOverHttpEqualsTheFacade() throws Exception {
        String expected = TestModel.facadeReply(model);
        try (OpenAiServer server = start(options())) {
            HttpResponse<String> response = post(server, "/v1/chat/completions", GREEDY_CHAT);
            assertEquals(200, response.statusCode(), response.body());
            Map<String, Object> body = json(response.body());
            assertEquals("chat.completion", body.get("object"));
            assertEquals(TestModel.ID, body.get("model"));
            Map<String, Object> choice = ((List<Map<String, Object>>) body.get("choices")).getFirst();
            assertEquals(expected, ((Map<String, Object>) choice.get("message")).get("content"));
            Map<String, Object> usage = (Map<String, Object>) body.get("usage");
            assertEquals(((Number) usage.get("prompt_tokens")).doubleValue() + ((Number) usage.get("completion_tokens")).doubleValue(),
                    ((Number) usage.get("total_tokens")).doubleValue());

            // The same request streamed, with usage: the pieces join to the same text.
            Map<String, Object> streamed = json(GREEDY_CHAT);
            streamed.put("stream", true);
            streamed.put("stream_options", Map.of("include_usage", true));
            HttpResponse<String> stream = post(server, "/v1/chat/completions", JsonWriter.write(streamed));
            assertEquals(200, stream.statusCode());
            assertTrue(stream.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
            List<String> events = events(stream.body());
            assertEquals("[DONE]", events.getLast());
            StringBuilder text = new StringBuilder();
            String finish = null;
            for (String event : events.subList(0, events.size() - 2)) {
                Map<String, Object> chunk = json(event);
                assertEquals("chat.completion.chunk", chunk.get("object"));
                Map<String, Object> first = ((List<Map<String, Object>>) chunk.get("choices")).getFirst();
                Object content = ((Map<String, Object>) first.get("delta")).get("content");
                text.append(content == null ? "" : content);
                finish = (String) first.get("finish_reason");
            }
            assertEquals(expected, text.toString());
            assertTrue(finish.equals("length") || finish.equals("stop"), finish);
            Map<String, Object> usageChunk = json(events.get(events.size() - 2));
            assertEquals(List.of(), usageChunk.get("choices"));
            assertEquals(usage.get("completion_tokens"), ((Map<String, Object>) usageChunk.get("usage")).get("completion_tokens"));
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void completionsModelsHealthAndMetrics() throws Exception {
        try (OpenAiServer server = start(options())) {
            HttpResponse<String> response = post(server, "/v1/completions",
                    "{\"model\":\"" + TestModel.ID + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":5,\"temperature\":0}");
            assertEquals(200, response.statusCode(), response.body());
            Map<String, Object> body = json(response.body());
            assertEquals("text_completion", body.get("object"));
            Map<String, Object> choice = ((List<Map<String, Object>>) body.get("choices")).getFirst();
            assertTrue(choice.get("text") instanceof String);
            assertEquals(5.0, ((Map<String, Object>) body.get("usage")).get("completion_tokens"));

            HttpResponse<String> streamed = post(server, "/v1/completions",
                    "{\"prompt\":\"Once upon a time\",\"max_tokens\":5,\"temperature\":0,\"stream\":true}");
            StringBuilder text = new StringBuilder();
            List<String> events = events(streamed.body());
            for (String event : events.subList(0, events.size() - 1)) {
                text.append(((List<Map<String, Object>>) json(event).get("choices")).getFirst().get("text"));
            }
            assertEquals(choice.get("text"), text.toString());

            Map<String, Object> models = json(send(server, "GET", "/v1/models", null, null).body());
            assertEquals(TestModel.ID, ((List<Map<String, Object>>) models.get("data")).getFirst().get("id"));
            assertEquals(200, send(server, "GET", "/v1/models/" + TestModel.ID, null, null).statusCode());
            assertEquals("model_not_found", error(send(server, "GET", "/v1/models/gpt-4o", null, null)).get("code"));
            assertEquals("ok", json(send(server, "GET", "/health", null, null).body()).get("status"));

            String metrics = send(server, "GET", "/metrics", null, null).body();
            assertTrue(metrics.contains("panllama_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 2"), metrics);
            assertTrue(metrics.contains("panllama_generated_tokens_total 10"), metrics);
            assertTrue(metrics.contains("panllama_requests_waiting 0"), metrics);
            assertTrue(metrics.contains("panllama_kv_cache_capacity_tokens " + TestModel.CONTEXT), metrics);
            // The second request found its whole prompt cached: it evaluated one token again, for its logits.
            double promptTokens = ((Number) ((Map<String, Object>) body.get("usage")).get("prompt_tokens")).doubleValue();
            assertEquals(promptTokens * 2, metric(metrics, "panllama_prompt_tokens_total"), metrics);
            assertEquals(promptTokens + 1, metric(metrics, "panllama_prompt_tokens_evaluated_total"), metrics);
            // The cache holds the prompt and the reply's first 4 tokens: the fifth reached the limit and was not evaluated.
            assertEquals(promptTokens + 4, metric(metrics, "panllama_kv_cache_tokens"), metrics);
            // Those cells' keys and values (F16), in the host pages they were written to: less than a full context's.
            double cacheBytes = metric(metrics, "panllama_kv_cache_bytes");
            Dimensions dims = model.config().dims();
            long fullContext = 2L * dims.layers() * dims.kvWidth() * Short.BYTES * TestModel.CONTEXT;
            assertTrue(cacheBytes > 0 && cacheBytes % ReservedMemory.pageSize() == 0 && cacheBytes < fullContext,
                    cacheBytes + " of " + fullContext + " bytes: " + metrics);
            assertTrue(metric(metrics, "panllama_generated_tokens_per_second") > 0, metrics);

            // llama-server's cache_prompt false: the whole prompt is evaluated again, and the reply is the same.
            Map<String, Object> uncached = json(post(server, "/v1/completions",
                    "{\"prompt\":\"Once upon a time\",\"max_tokens\":5,\"temperature\":0,\"cache_prompt\":false}").body());
            assertEquals(choice.get("text"), ((List<Map<String, Object>>) uncached.get("choices")).getFirst().get("text"));
            assertEquals(0.0, ((Map<String, Object>) ((Map<String, Object>) uncached.get("usage")).get("prompt_tokens_details"))
                    .get("cached_tokens"), uncached.toString());
            metrics = send(server, "GET", "/metrics", null, null).body();
            assertEquals(promptTokens * 2 + 1, metric(metrics, "panllama_prompt_tokens_evaluated_total"), metrics);
            // Asked again with the cache: all of the prompt but its last token came from it, as usage says.
            Map<String, Object> cached = json(post(server, "/v1/completions",
                    "{\"prompt\":\"Once upon a time\",\"max_tokens\":5,\"temperature\":0}").body());
            assertEquals(promptTokens - 1, ((Number) ((Map<String, Object>) ((Map<String, Object>) cached.get("usage"))
                    .get("prompt_tokens_details")).get("cached_tokens")).doubleValue(), cached.toString());
        }
    }

    /**
     * {@code n}: as many choices, numbered, each sampled with a seed of its own; streamed, their chunks
     * interleave, each with its index, and give the same texts as the whole reply to the same request.
     */
    @Test
    @SuppressWarnings("unchecked")
    void severalChoicesComeWholeOrStreamedEachWithItsIndex() throws Exception {
        // cache_prompt false: each run evaluates the prompt anew, so that the two runs compute alike.
        String fields = "\"n\": 3, \"max_tokens\": 10, \"temperature\": 1.5, \"seed\": 21, \"cache_prompt\": false, \"ignore_eos\": true";
        String story = "{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me a long story.\"}], ";
        try (OpenAiServer server = start(options())) {
            Map<String, Object> whole = json(post(server, "/v1/chat/completions", story + fields + "}").body());
            List<Map<String, Object>> choices = (List<Map<String, Object>>) whole.get("choices");
            assertEquals(3, choices.size(), whole.toString());
            List<String> texts = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                assertEquals((long) i, ((Number) choices.get(i).get("index")).longValue());
                assertTrue(choices.get(i).get("finish_reason") instanceof String, whole.toString());
                texts.add((String) ((Map<String, Object>) choices.get(i).get("message")).get("content"));
            }
            // Each samples with a seed of its own (this random model's sharp distributions still let two of them agree).
            assertTrue(new HashSet<>(texts).size() > 1, "the choices are all alike: " + texts);

            String stream = post(server, "/v1/chat/completions", story + fields + ", \"stream\": true, \"stream_options\": {\"include_usage\": true}}")
                    .body();
            StringBuilder[] streamed = {new StringBuilder(), new StringBuilder(), new StringBuilder()};
            int[] finishes = new int[3];
            Map<String, Object> usage = null;
            for (String event : events(stream)) {
                if (event.equals("[DONE]")) {
                    continue;
                }
                Map<String, Object> chunk = json(event);
                for (Map<String, Object> choice : (List<Map<String, Object>>) chunk.get("choices")) {
                    int index = ((Number) choice.get("index")).intValue();
                    Object content = ((Map<String, Object>) choice.get("delta")).get("content");
                    if (content instanceof String piece) {
                        streamed[index].append(piece);
                    }
                    finishes[index] += choice.get("finish_reason") == null ? 0 : 1;
                }
                if (chunk.get("usage") instanceof Map<?, ?> counted) {
                    usage = (Map<String, Object>) counted;
                }
            }
            for (int i = 0; i < 3; i++) {
                assertEquals(texts.get(i), streamed[i].toString(), "choice " + i);
                assertEquals(1, finishes[i], "choice " + i + " ends once");
            }
            // The prompt once, the completions of all three.
            Map<String, Object> wholeUsage = (Map<String, Object>) whole.get("usage");
            assertEquals(wholeUsage.get("prompt_tokens"), usage.get("prompt_tokens"));
            assertEquals(wholeUsage.get("completion_tokens"), usage.get("completion_tokens"));
            assertTrue(((Number) usage.get("completion_tokens")).longValue() > 10, usage.toString());

            Map<String, Object> text = json(post(server, "/v1/completions", "{\"prompt\": \"Once\", \"n\": 2, \"max_tokens\": 4}").body());
            assertEquals(2, ((List<?>) text.get("choices")).size(), text.toString());
        }
    }

    /**
     * A text completion of several prompts (OpenAI's array of strings, or of token id arrays): their choices
     * numbered prompt after prompt, each prompt counted once in the usage; too many for the server's places is a 400.
     */
    @Test
    @SuppressWarnings("unchecked")
    void aTextCompletionOfSeveralPromptsNumbersTheirChoicesInTurn() throws Exception {
        try (OpenAiServer server = start(options())) {
            long once = promptTokens(json(post(server, "/v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 1}").body()));
            long twice = promptTokens(json(post(server, "/v1/completions", "{\"prompt\": \"Twice upon\", \"max_tokens\": 1}").body()));
            String body = "{\"prompt\": [\"Once\", \"Twice upon\"], \"n\": 2, \"max_tokens\": 3, \"ignore_eos\": true";
            Map<String, Object> whole = json(post(server, "/v1/completions", body + "}").body());
            List<Map<String, Object>> choices = (List<Map<String, Object>>) whole.get("choices");
            assertEquals(List.of(0L, 1L, 2L, 3L), choices.stream().map(choice -> ((Number) choice.get("index")).longValue()).toList());
            Map<String, Object> usage = (Map<String, Object>) whole.get("usage");
            assertEquals(once + twice, ((Number) usage.get("prompt_tokens")).longValue(), usage.toString());
            assertEquals(12L, ((Number) usage.get("completion_tokens")).longValue(), usage.toString());

            int[] finishes = new int[4];
            for (String event : events(post(server, "/v1/completions", body + ", \"stream\": true}").body())) {
                if (!event.equals("[DONE]")) {
                    for (Map<String, Object> choice : (List<Map<String, Object>>) json(event).get("choices")) {
                        finishes[((Number) choice.get("index")).intValue()] += choice.get("finish_reason") == null ? 0 : 1;
                    }
                }
            }
            assertEquals(List.of(1, 1, 1, 1), java.util.Arrays.stream(finishes).boxed().toList());

            Map<String, Object> ids = json(post(server, "/v1/completions", "{\"prompt\": [[1, 2, 3], [4, 5]], \"max_tokens\": 2}").body());
            assertEquals(2, ((List<?>) ids.get("choices")).size(), ids.toString());
            // 4 slots and 16 places to wait: 21 prompts are more than one request may take.
            assertError(post(server, "/v1/completions", "{\"prompt\": " + JsonWriter.write(java.util.Collections.nCopies(21, "Hi"))
                    + ", \"max_tokens\": 1}"), 400, "prompt", null);
        }
    }

    @SuppressWarnings("unchecked")
    private static long promptTokens(Map<String, Object> reply) {
        return ((Number) ((Map<String, Object>) reply.get("usage")).get("prompt_tokens")).longValue();
    }

    @Test
    void badRequestsGetOpenAiErrorsAndTheServerGoesOn() throws Exception {
        try (OpenAiServer server = start(options().withMaxBodyBytes(64 * 1024))) {
            assertError(post(server, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", "), 400, null, null);
            assertError(post(server, "/v1/chat/completions", "[1, 2]"), 400, null, null);
            assertError(post(server, "/v1/chat/completions", "{\"messages\": \"hello\"}"), 400, "messages", null);
            assertError(post(server, "/v1/chat/completions", "{}"), 400, "messages", null);
            assertError(post(server, "/v1/chat/completions", chat("\"temperature\": \"hot\"")), 400, "temperature", null);
            assertError(post(server, "/v1/chat/completions", chat("\"temperature\": 7")), 400, "temperature", null);
            assertError(post(server, "/v1/chat/completions", chat("\"max_tokens\": 2.5")), 400, "max_tokens", null);
            assertError(post(server, "/v1/chat/completions", chat("\"stream\": \"yes\"")), 400, "stream", null);
            assertError(post(server, "/v1/chat/completions", chat("\"stop\": [1]")), 400, "stop", null);
            // Up to --parallel choices (4 here), as llama-server bounds them.
            assertError(post(server, "/v1/chat/completions", chat("\"n\": 5")), 400, "n", null);
            assertError(post(server, "/v1/chat/completions", chat("\"n\": 0")), 400, "n", null);
            assertError(post(server, "/completion", "{\"prompt\": \"Hi\", \"n\": 2}"), 400, "n", "unsupported_parameter");
            assertError(post(server, "/v1/chat/completions", chat("\"model\": \"gpt-4o\"")), 404, "model", "model_not_found");
            // llama.cpp's sampler fields are checked as llama-server's are.
            assertError(post(server, "/v1/chat/completions", chat("\"mirostat\": 3")), 400, "mirostat", null);
            assertEquals(200, post(server, "/v1/chat/completions", chat("\"max_tokens\": 2, \"mirostat\": 2, \"mirostat_tau\": 4, \"dynatemp_range\": 0.5")).statusCode());
            assertError(post(server, "/v1/chat/completions", chat("\"dry_multiplier\": -1")), 400, "dry_multiplier", null);
            assertError(post(server, "/v1/chat/completions", chat("\"dry_sequence_breakers\": [\"\\n\", 5]")), 400, "dry_sequence_breakers[1]", null);
            assertEquals(200, post(server, "/v1/chat/completions", chat("\"max_tokens\": 4, \"dry_multiplier\": 0.8, \"dry_base\": 1.75,"
                    + " \"dry_allowed_length\": 2, \"dry_penalty_last_n\": -1, \"dry_sequence_breakers\": [\"\\n\", \":\"]")).statusCode());
            assertError(post(server, "/v1/chat/completions", chat("\"typical_p\": 1.5")), 400, "typical_p", null);
            assertError(post(server, "/v1/chat/completions", chat("\"samplers\": [\"top_k\", \"bogus\"]")), 400, "samplers", null);
            assertError(post(server, "/v1/chat/completions", chat("\"samplers\": [\"top_k\", 3]")), 400, "samplers[1]", null);
            assertError(post(server, "/v1/chat/completions", chat("\"samplers\": \"kq\"")), 400, "samplers", null);
            assertError(post(server, "/v1/chat/completions", chat("\"samplers\": 5")), 400, "samplers", null);
            assertError(post(server, "/v1/chat/completions", chat("\"samplers\": [\"infill\"]")), 400, "samplers", null);
            assertEquals(200, post(server, "/v1/chat/completions", chat("\"max_tokens\": 3, \"samplers\": [\"top_k\", \"adaptive_p\"],"
                    + " \"adaptive_target\": 0.3, \"adaptive_decay\": 0.8")).statusCode());
            assertError(post(server, "/v1/chat/completions", chat("\"adaptive_target\": \"high\"")), 400, "adaptive_target", null);
            assertError(post(server, "/v1/chat/completions", chat("\"dynatemp_range\": -1")), 400, "dynatemp_range", null);
            assertError(post(server, "/v1/chat/completions", chat("\"xtc_probability\": -0.5")), 400, "xtc_probability", null);
            assertEquals(200, post(server, "/v1/chat/completions", chat("\"max_tokens\": 2, \"mirostat\": 0, \"dry_multiplier\": 0,"
                    + " \"dynatemp_range\": 0, \"typical_p\": 1, \"top_n_sigma\": -1, \"xtc_probability\": 0, \"xtc_threshold\": 0.1")).statusCode());
            assertError(post(server, "/v1/chat/completions", chat("\"response_format\": {\"type\": \"xml\"}")), 400, "response_format", null);
            HttpResponse<String> badSchema = post(server, "/v1/chat/completions",
                    chat("\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"s\", \"schema\": {\"type\": \"string\", \"pattern\": \"^a\"}}}"));
            assertError(badSchema, 400, "response_format.json_schema.schema", null);
            assertTrue(error(badSchema).get("message").toString().contains("pattern"), badSchema.body());
            assertError(post(server, "/v1/chat/completions",
                    "{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}"), 400, "messages[0].role", null);
            assertError(post(server, "/v1/completions", "{\"prompt\": [99999999]}"), 400, "prompt", null);
            assertError(post(server, "/v1/completions", "{\"prompt\": " + JsonWriter.write("word ".repeat(TestModel.CONTEXT)) + "}"),
                    400, "prompt", "context_length_exceeded");
            // The requests generated together share the context: a reply that could not fit in it is refused up front.
            assertError(post(server, "/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": " + TestModel.CONTEXT + "}"),
                    400, "prompt", "context_length_exceeded");
            assertError(post(server, "/v1/chat/completions", chat("\"padding\": \"" + "x".repeat(64 * 1024) + "\"")), 413, null, null);
            assertError(send(server, "GET", "/v1/chat/completions", null, null), 405, null, null);
            assertError(send(server, "GET", "/v1/engines", null, null), 404, null, "unknown_url");
            assertError(post(server, "/tokenize", "{}"), 400, "content", null);
            assertError(post(server, "/tokenize", "{\"content\": 5}"), 400, "content", null);
            assertError(post(server, "/tokenize", "{\"content\": [\"Hi\", 1.5]}"), 400, "content[1]", null);
            assertError(post(server, "/detokenize", "{\"tokens\": [9906, 99999999]}"), 400, "tokens[1]", null);
            assertError(post(server, "/apply-template", "{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}"), 400,
                    "messages[0].role", null);
            // Still serving.
            assertEquals(200, post(server, "/v1/chat/completions", chat("\"max_tokens\": 2")).statusCode());
        }
    }

    /**
     * A request refused while its client may still be sending the body (over the limit: 413; a wrong key:
     * 401) gets its refusal every time, not a connection reset now and then (this client saw no reply to
     * about 1 in 75 before the server read the refused body's rest).
     */
    @Test
    void everyRefusalReachesAClientStillSendingItsBody() throws Exception {
        String oversized = chat("\"padding\": \"" + "x".repeat(64 * 1024) + "\"");
        String large = chat("\"padding\": \"" + "x".repeat(60 * 1024) + "\"");
        try (OpenAiServer server = start(options().withMaxBodyBytes(64 * 1024).withApiKey("sesame"))) {
            for (int i = 0; i < 150; i++) {
                assertEquals(413, send(server, "POST", "/v1/chat/completions", oversized, "sesame").statusCode(), "request " + i);
                assertEquals(401, send(server, "POST", "/v1/chat/completions", large, "wrong").statusCode(), "request " + i);
            }
            assertEquals(200, send(server, "POST", "/v1/chat/completions", chat("\"max_tokens\": 2"), "sesame").statusCode());
        }
    }

    /** {@code response_format}: every sampled reply parses and validates, as an independent validator (json-sKema's) judges it. */
    @Test
    @SuppressWarnings("unchecked")
    void responseFormatConstrainsEveryReplyToTheSchema() throws Exception {
        String schema = "{\"type\": \"object\", \"properties\": {\"answer\": {\"enum\": [\"yes\", \"no\", \"maybe\"]},"
                + " \"count\": {\"type\": \"integer\"}, \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"boolean\"}, \"maxItems\": 3}},"
                + " \"required\": [\"answer\", \"count\"], \"additionalProperties\": false}";
        Validator validator = Validator.create(new SchemaLoader(new JsonParser(schema).parse()).load(),
                ValidatorConfig.Companion.builder().primitiveValidationStrategy(PrimitiveValidationStrategy.STRICT).build());
        try (OpenAiServer server = start(options())) {
            for (int seed = 1; seed <= 8; seed++) {
                Map<String, Object> choice = firstChoice(post(server, "/v1/chat/completions", chat("\"temperature\": 1.0, \"seed\": " + seed
                        + ", \"max_tokens\": 120, \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"reply\","
                        + " \"strict\": true, \"schema\": " + schema + "}}")));
                String content = (String) ((Map<String, Object>) choice.get("message")).get("content");
                assertEquals("stop", choice.get("finish_reason"), content);
                ValidationFailure failure = validator.validate(new JsonParser(content).parse());
                assertNull(failure, () -> failure + " in " + content);
            }
            // Any JSON object: free text inside strings may run to the token limit, so a reply cut there
            // must at least be the start of an object.
            Map<String, Object> choice = firstChoice(post(server, "/v1/chat/completions",
                    chat("\"temperature\": 1.0, \"seed\": 3, \"max_tokens\": 120, \"response_format\": {\"type\": \"json_object\"}")));
            String content = (String) ((Map<String, Object>) choice.get("message")).get("content");
            if (choice.get("finish_reason").equals("stop")) {
                assertTrue(JsonReader.parse(content) instanceof Map, content);
            } else {
                assertTrue(JsonSchema.anyObject().acceptsPrefix(content), content);
            }
        }
    }

    /**
     * llama-server's {@code grammar}: every reply of the chat and completion endpoints is a text of the GBNF
     * grammar, as a regular expression of the same language judges it; a bad grammar, or one beside a JSON
     * format, is a 400 naming the field.
     */
    @Test
    @SuppressWarnings("unchecked")
    void grammarConstrainsEveryReply() throws Exception {
        String grammar = JsonWriter.write("root ::= (\"yes\" | \"no\") \", \" [0-9]{1,2} \" \" [a-z]{2,5}\n");
        java.util.regex.Pattern language = java.util.regex.Pattern.compile("(yes|no), [0-9]{1,2} [a-z]{2,5}");
        try (OpenAiServer server = start(options())) {
            for (int seed = 1; seed <= 6; seed++) {
                Map<String, Object> choice = firstChoice(post(server, "/v1/chat/completions",
                        chat("\"temperature\": 1.2, \"seed\": " + seed + ", \"max_tokens\": 40, \"grammar\": " + grammar)));
                String content = (String) ((Map<String, Object>) choice.get("message")).get("content");
                assertTrue(language.matcher(content).matches(), content);
                assertEquals("stop", choice.get("finish_reason"), content);
                Map<String, Object> completion = firstChoice(post(server, "/v1/completions", "{\"prompt\": \"Answer:\", \"seed\": " + seed
                        + ", \"temperature\": 1.2, \"max_tokens\": 40, \"grammar\": " + grammar + "}"));
                assertTrue(language.matcher((String) completion.get("text")).matches(), completion.toString());
            }
            assertError(post(server, "/v1/chat/completions", chat("\"grammar\": \"root ::= missing\"")), 400, "grammar", null);
            assertTrue(post(server, "/v1/chat/completions", chat("\"grammar\": \"root ::= missing\"")).body()
                    .contains("the grammar uses rule 'missing' but does not define it"));
            assertError(post(server, "/v1/chat/completions", chat("\"grammar\": \"root ::= <|no such token|>\"")), 400, "grammar", null);
            assertError(post(server, "/v1/chat/completions", chat("\"grammar\": 5")), 400, "grammar", null);
            assertError(post(server, "/v1/chat/completions", chat("\"grammar\": " + grammar + ", \"response_format\": {\"type\": \"json_object\"}")),
                    400, "grammar", null);
            assertError(post(server, "/v1/chat/completions", chat("\"grammar\": " + grammar + ", \"json_schema\": {\"type\": \"object\"}")),
                    400, "grammar", null);
            assertError(post(server, "/v1/chat/completions", chat("\"grammar\": " + grammar + ", \"tools\": [{\"type\": \"function\","
                    + " \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\"}}}]")), 400, "grammar", null);
            assertEquals(200, post(server, "/v1/chat/completions", chat("\"max_tokens\": 2, \"grammar\": \"\"")).statusCode(),
                    "an empty grammar is none, as llama-server takes it");
            // A grammar that cannot be matched is refused as the request is read; one too ambiguous to follow fails its
            // request as the text grows (a 400, whole or as the stream's last event), and the server goes on serving.
            assertError(post(server, "/v1/completions", "{\"prompt\": \"x\", \"grammar\": \"root ::= r\\nr ::= (.? r{2} .?)* | .\"}"),
                    400, "grammar", null);
            HttpResponse<String> growing = post(server, "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 200, \"temperature\": 1.5,"
                    + " \"grammar\": \"root ::= r\\nr ::= (. r r)* | .*\"}");
            // A whole reply that takes longer than the probe interval has its 200 sent ahead (a loaded machine): the
            // error JSON then comes under it.
            assertTrue(growing.statusCode() == 400 || growing.statusCode() == 200 && growing.body().startsWith("\n"), growing.body());
            assertEquals(null, error(growing).get("param"), growing.body());
            assertTrue(growing.body().contains("too ambiguous"), growing.body());
            assertEquals(200, post(server, "/v1/chat/completions", chat("\"max_tokens\": 2")).statusCode());
        }
    }

    /**
     * llama-server's routes beside OpenAI's: its own {@code /completion} (llama-server's JSON, streamed without
     * {@code [DONE]}), and the OpenAI routes without {@code /v1}, as llama-server serves them too.
     */
    @Test
    @SuppressWarnings("unchecked")
    void llamaServersOwnRoutesAnswer() throws Exception {
        try (OpenAiServer server = start(options())) {
            Map<String, Object> reply = json(post(server, "/completion", "{\"prompt\": \"Hi\", \"n_predict\": 4, \"temperature\": 0}").body());
            assertEquals(true, reply.get("stop"));
            assertEquals("limit", reply.get("stop_type"));
            assertEquals(4L, ((Number) reply.get("tokens_predicted")).longValue());
            Map<String, Object> same = json(post(server, "/completions", "{\"prompt\": \"Hi\", \"n_predict\": 4, \"temperature\": 0}").body());
            assertEquals(reply.get("content"), same.get("content"));
            HttpResponse<String> streamed = post(server, "/completion", "{\"prompt\": \"Hi\", \"n_predict\": 4, \"temperature\": 0, \"stream\": true}");
            assertEquals(200, streamed.statusCode());
            assertFalse(streamed.body().contains("[DONE]"), streamed.body());
            assertTrue(streamed.body().strip().endsWith("}"), streamed.body());
            Map<String, Object> scored = json(post(server, "/completion", "{\"prompt\": \"Hi\", \"n_predict\": 3, \"n_probs\": 2}").body());
            List<Map<String, Object>> probabilities = (List<Map<String, Object>>) scored.get("completion_probabilities");
            assertEquals(3, probabilities.size(), scored.toString());
            assertEquals(2, ((List<?>) probabilities.getFirst().get("top_logprobs")).size());
            assertError(post(server, "/completion", "{\"prompt\": \"Hi\", \"n_probs\": 21}"), 400, "n_probs", null);
            assertEquals(200, post(server, "/chat/completions", chat("\"max_tokens\": 2")).statusCode());
            assertEquals(200, send(server, "GET", "/models", null, null).statusCode());
            assertEquals(200, send(server, "GET", "/v1/health", null, null).statusCode());
            Map<String, Object> props = json(send(server, "GET", "/props", null, null).body());
            assertEquals((long) options().parallel(), ((Number) props.get("total_slots")).longValue(), props.toString());
            Map<String, Object> settings = (Map<String, Object>) props.get("default_generation_settings");
            assertTrue(((Number) settings.get("n_ctx")).longValue() > 0, props.toString());
            assertEquals(0.8, ((Number) ((Map<String, Object>) settings.get("params")).get("temperature")).doubleValue(), 1e-6);
        }
    }

    /**
     * llama-server's {@code samplers}: only the samplers named run, in their order. Top-k 1 alone takes the most
     * likely token whatever the temperature and seed, so every seed's reply is the greedy one.
     */
    @Test
    @SuppressWarnings("unchecked")
    void samplersRunInTheOrderGivenAndOnlyThose() throws Exception {
        try (OpenAiServer server = start(options())) {
            String greedy = (String) ((Map<String, Object>) firstChoice(post(server, "/v1/chat/completions",
                    chat("\"temperature\": 0, \"max_tokens\": 12"))).get("message")).get("content");
            Set<String> sampled = new HashSet<>();
            for (int seed = 1; seed <= 4; seed++) {
                for (String samplers : List.of("[\"top_k\"]", "\"k\"", "[\"top-k\", \"min_p\"]")) {
                    sampled.add((String) ((Map<String, Object>) firstChoice(post(server, "/v1/chat/completions", chat("\"temperature\": 1.5, \"seed\": "
                            + seed + ", \"top_k\": 1, \"max_tokens\": 12, \"samplers\": " + samplers))).get("message")).get("content"));
                }
            }
            assertEquals(Set.of(greedy), sampled);
            Set<String> free = new HashSet<>();
            for (int seed = 1; seed <= 4; seed++) {
                free.add((String) ((Map<String, Object>) firstChoice(post(server, "/v1/chat/completions", chat("\"temperature\": 1.5, \"seed\": "
                        + seed + ", \"top_k\": 1, \"max_tokens\": 12, \"samplers\": [\"temperature\"]"))).get("message")).get("content"));
            }
            assertTrue(free.size() > 1, "without top-k in the order, top_k 1 does not run: " + free);
        }
    }

    /**
     * llama-server's other ways to ask for a schema: a top-level {@code json_schema}, and {@code response_format}
     * {@code json_object} with a {@code schema}; every reply validates.
     */
    @Test
    @SuppressWarnings("unchecked")
    void llamaServersSchemaFieldsConstrainTheReply() throws Exception {
        String schema = "{\"type\": \"object\", \"properties\": {\"ok\": {\"type\": \"boolean\"}, \"n\": {\"enum\": [1, 2, 3]}},"
                + " \"required\": [\"ok\", \"n\"], \"additionalProperties\": false}";
        Validator validator = Validator.create(new SchemaLoader(new JsonParser(schema).parse()).load(),
                ValidatorConfig.Companion.builder().primitiveValidationStrategy(PrimitiveValidationStrategy.STRICT).build());
        try (OpenAiServer server = start(options())) {
            for (int seed = 1; seed <= 3; seed++) {
                for (String field : List.of("\"json_schema\": " + schema, "\"response_format\": {\"type\": \"json_object\", \"schema\": " + schema + "}")) {
                    Map<String, Object> choice = firstChoice(post(server, "/v1/chat/completions",
                            chat("\"temperature\": 1.0, \"seed\": " + seed + ", \"max_tokens\": 60, " + field)));
                    String content = (String) ((Map<String, Object>) choice.get("message")).get("content");
                    assertEquals("stop", choice.get("finish_reason"), content);
                    ValidationFailure failure = validator.validate(new JsonParser(content).parse());
                    assertNull(failure, () -> failure + " in " + content);
                }
            }
            assertError(post(server, "/v1/chat/completions", chat("\"json_schema\": \"object\"")), 400, "json_schema", null);
            assertError(post(server, "/v1/chat/completions", chat("\"json_schema\": {\"type\": \"string\", \"pattern\": \"a\"}")), 400,
                    "json_schema", null);
            assertError(post(server, "/v1/chat/completions", chat("\"json_schema\": " + schema + ", \"response_format\": {\"type\": \"json_object\"}")),
                    400, "json_schema", null);
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> firstChoice(HttpResponse<String> response) {
        assertEquals(200, response.statusCode(), response.body());
        return ((List<Map<String, Object>>) json(response.body()).get("choices")).getFirst();
    }

    @Test
    void aPromptPastTheServersLimitIsRefused() throws Exception {
        try (OpenAiServer server = start(options().withMaxPromptTokens(48))) {
            HttpResponse<String> response = post(server, "/v1/chat/completions", chat("\"max_tokens\": 2"));
            assertEquals(200, response.statusCode(), response.body());
            assertError(post(server, "/v1/completions", "{\"prompt\": " + JsonWriter.write("word ".repeat(60)) + "}"),
                    400, "prompt", "context_length_exceeded");
        }
    }

    @Test
    void theApiKeyIsRequiredWhereSet() throws Exception {
        try (OpenAiServer server = start(options().withApiKey("sesame"))) {
            HttpResponse<String> missing = post(server, "/v1/chat/completions", chat("\"max_tokens\": 2"));
            assertError(missing, 401, null, "invalid_api_key");
            assertEquals("Bearer", missing.headers().firstValue("WWW-Authenticate").orElse(""));
            assertError(send(server, "POST", "/v1/chat/completions", chat("\"max_tokens\": 2"), "open"), 401, null, "invalid_api_key");
            assertError(send(server, "GET", "/v1/models", null, "open"), 401, null, "invalid_api_key");
            assertEquals(200, send(server, "POST", "/v1/chat/completions", chat("\"max_tokens\": 2"), "sesame").statusCode());
            assertEquals(200, send(server, "GET", "/health", null, null).statusCode());
        }
        // Several keys (llama-server's comma-separated --api-key, or --api-key-file): any one of them.
        try (OpenAiServer server = start(options().withApiKeys(List.of("sesame", "tahini")))) {
            assertEquals(200, send(server, "GET", "/v1/models", null, "sesame").statusCode());
            assertEquals(200, send(server, "GET", "/v1/models", null, "tahini").statusCode());
            assertError(send(server, "GET", "/v1/models", null, "sesametahini"), 401, null, "invalid_api_key");
        }
    }

    /** A request from a browser page of another origin, with the headers a browser sends. */
    static HttpResponse<String> fromPage(OpenAiServer server, String method, String path, String origin, String key)
            throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .timeout(Duration.ofSeconds(60)).header("Origin", origin);
        if (method.equals("OPTIONS")) {
            request.method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("Access-Control-Request-Method", "POST")
                    .header("Access-Control-Request-Headers", "authorization,content-type");
        } else {
            request.header("Content-Type", "application/json").header("Authorization", "Bearer " + key)
                    .POST(HttpRequest.BodyPublishers.ofString(chat("\"max_tokens\": 2")));
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A preflight refused as any other request without the key or of the wrong method: no header lets the page go on. */
    static void assertRefusedPreflight(HttpResponse<String> preflight) {
        assertTrue(preflight.statusCode() == 401 || preflight.statusCode() == 405, preflight.statusCode() + " " + preflight.body());
        assertTrue(preflight.headers().firstValue("Access-Control-Allow-Origin").isEmpty(), preflight.headers().toString());
    }

    /**
     * Browsers: no page of another origin may read a reply by default; {@code --cors-origins} lets the origins
     * it names (or pages of this machine, or any), their preflights answered without the key.
     */
    @Test
    void onlyTheOriginsAllowedMayCallFromABrowser() throws Exception {
        try (OpenAiServer server = start(options().withApiKey("sesame"))) {
            HttpResponse<String> reply = fromPage(server, "POST", "/v1/chat/completions", "https://app.example", "sesame");
            assertEquals(200, reply.statusCode(), reply.body());
            assertTrue(reply.headers().firstValue("Access-Control-Allow-Origin").isEmpty(), "no origin is allowed by default");
            assertRefusedPreflight(fromPage(server, "OPTIONS", "/v1/chat/completions", "https://app.example", null));
        }
        try (OpenAiServer server = start(options().withApiKey("sesame").withCorsOrigins(List.of("https://app.example", "localhost")))) {
            for (String origin : List.of("https://app.example", "http://localhost:3000", "http://127.0.0.1:5173")) {
                HttpResponse<String> preflight = fromPage(server, "OPTIONS", "/v1/chat/completions", origin, null);
                assertEquals(204, preflight.statusCode(), origin + ": " + preflight.body());
                assertEquals(origin, preflight.headers().firstValue("Access-Control-Allow-Origin").orElse(""), origin);
                assertTrue(preflight.headers().firstValue("Access-Control-Allow-Headers").orElse("").contains("authorization"), origin);
                assertTrue(preflight.headers().firstValue("Access-Control-Allow-Methods").orElse("").contains("POST"), origin);
                HttpResponse<String> reply = fromPage(server, "POST", "/v1/chat/completions", origin, "sesame");
                assertEquals(200, reply.statusCode(), reply.body());
                assertEquals(origin, reply.headers().firstValue("Access-Control-Allow-Origin").orElse(""), origin);
                // The key is still asked of the request itself.
                assertError(fromPage(server, "POST", "/v1/chat/completions", origin, "wrong"), 401, null, "invalid_api_key");
            }
            for (String origin : List.of("https://evil.example", "https://app.example.evil", "http://localhost.evil:80")) {
                assertTrue(fromPage(server, "POST", "/v1/chat/completions", origin, "sesame").headers().firstValue("Access-Control-Allow-Origin")
                        .isEmpty(), origin);
                assertRefusedPreflight(fromPage(server, "OPTIONS", "/v1/chat/completions", origin, null));
            }
        }
        try (OpenAiServer server = start(options().withCorsOrigins(List.of("*")))) {
            HttpResponse<String> reply = fromPage(server, "POST", "/v1/chat/completions", "https://any.example", null);
            assertEquals("*", reply.headers().firstValue("Access-Control-Allow-Origin").orElse(""));
        }
        assertThrows(IllegalArgumentException.class, () -> options().withCorsOrigins(List.of("https://app.example/path")));
    }

    @Test
    void aClientThatDisconnectsCancelsItsGenerationAndAFullQueueRefuses() throws Exception {
        try (OpenAiServer server = start(options().withMaxQueuedRequests(0).withParallel(1))) {
            try (Socket socket = endlessChat(server, true, 1)) {
                BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
                int events = 0;
                for (String line = in.readLine(); line != null && events < 3; line = in.readLine()) {
                    if (line.startsWith("data: ")) {
                        events++;
                    }
                }
                assertEquals(3, events);
                // The one place is taken and none may wait.
                HttpResponse<String> refused = post(server, "/v1/chat/completions", chat("\"max_tokens\": 2"));
                assertError(refused, 429, null, "rate_limit_exceeded");
            }
            String metrics = awaitIdle(server);
            double generated = metric(metrics, "panllama_generated_tokens_total");
            assertTrue(generated > 0 && generated < TestModel.CONTEXT / 4.0, "generated " + generated + " tokens after the client left");
            assertTrue(metrics.contains("panllama_requests_total{endpoint=\"/v1/chat/completions\",status=\"499\"} 1"), metrics);
            assertEquals(200, post(server, "/v1/chat/completions", chat("\"max_tokens\": 2")).statusCode());
        }
    }

    @Test
    void aClientThatDisconnectsBeforeItsWholeReplyCancelsItsGeneration() throws Exception {
        try (OpenAiServer server = start(options().withParallel(1))) {
            try (Socket socket = endlessChat(server, false, 1)) {
                // Nothing but whitespace comes before the reply is whole: wait until it is being generated, then leave.
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (metric(send(server, "GET", "/metrics", null, null).body(), "panllama_requests_running") < 1) {
                    assertTrue(System.nanoTime() < deadline, "the generation did not start");
                    Thread.sleep(5);
                }
            }
            String metrics = awaitIdle(server);
            double generated = metric(metrics, "panllama_generated_tokens_total");
            assertTrue(generated < TestModel.CONTEXT / 4.0, "generated " + generated + " tokens after the client left");
            assertEquals(200, post(server, "/v1/chat/completions", chat("\"max_tokens\": 2")).statusCode());
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void logitBiasFavoursAndBansTokensAndIgnoreEosKeepsGoing() throws Exception {
        int hello = model.tokenizer().encode(" hello", false, false)[0];
        int eos = model.tokenizer().vocabulary().eos();
        try (OpenAiServer server = start(options())) {
            // A bias of 100 selects the token, as OpenAI documents; by id, by its text (llama-server's form), or as pairs.
            for (String bias : List.of("{\"" + hello + "\": 100}", "{\" hello\": 100}", "[[" + hello + ", 100]]")) {
                Map<String, Object> choice = firstChoice(post(server, "/v1/completions",
                        "{\"prompt\": \"Once upon a time\", \"max_tokens\": 3, \"temperature\": 0, \"logit_bias\": " + bias + "}"));
                assertEquals(" hello hello hello", choice.get("text"), bias);
            }
            // Biases for one token add up: 100 and false (a ban) leave it banned.
            Map<String, Object> banned = firstChoice(post(server, "/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 3,"
                    + " \"temperature\": 1.5, \"seed\": 3, \"logit_bias\": [[" + hello + ", 100], [\" hello\", false]]}"));
            assertFalse(((String) banned.get("text")).contains("hello"), banned.toString());
            // The end-of-sequence token favoured ends the reply at once; ignore_eos bans it, so the reply runs to its limit.
            String toEos = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 4, \"temperature\": 0, \"logit_bias\": {\"" + eos + "\": 100}";
            Map<String, Object> ended = json(post(server, "/v1/completions", toEos + "}").body());
            assertEquals("stop", ((List<Map<String, Object>>) ended.get("choices")).getFirst().get("finish_reason"), ended.toString());
            assertEquals(0.0, ((Map<String, Object>) ended.get("usage")).get("completion_tokens"), ended.toString());
            Map<String, Object> kept = json(post(server, "/v1/completions", toEos + ", \"ignore_eos\": true}").body());
            assertEquals("length", ((List<Map<String, Object>>) kept.get("choices")).getFirst().get("finish_reason"), kept.toString());
            assertEquals(4.0, ((Map<String, Object>) kept.get("usage")).get("completion_tokens"), kept.toString());

            assertError(post(server, "/v1/chat/completions", chat("\"logit_bias\": {\"999999999\": 5}")), 400, "logit_bias.999999999", null);
            assertError(post(server, "/v1/chat/completions", chat("\"logit_bias\": {\"" + hello + "\": \"up\"}")), 400,
                    "logit_bias." + hello, null);
            assertError(post(server, "/v1/chat/completions", chat("\"logit_bias\": {\"" + hello + "\": true}")), 400,
                    "logit_bias." + hello, null);
            assertError(post(server, "/v1/chat/completions", chat("\"logit_bias\": [[1]]")), 400, "logit_bias[0]", null);
            assertError(post(server, "/v1/chat/completions", chat("\"logit_bias\": 5")), 400, "logit_bias", null);
        }
    }

    /**
     * Sends over a socket of its own, as a client that may leave at any moment, a chat request that
     * generates up to the context's end unless cancelled (about a thousand tokens), streamed or whole.
     */
    static Socket endlessChat(OpenAiServer server, boolean stream, int seed) throws IOException {
        return postOverSocket(server, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me a long story.\"}],"
                + " \"stream\": " + stream + ", \"temperature\": 1.5, \"seed\": " + seed + ", \"stop\": [\"<never>\"]}");
    }

    /** Sends {@code body} to {@code path} over a socket of its own, which the caller reads and closes when it likes. */
    static Socket postOverSocket(OpenAiServer server, String path, String body) throws IOException {
        Socket socket = new Socket("127.0.0.1", server.port());
        OutputStream out = socket.getOutputStream();
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                + bytes.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(bytes);
        out.flush();
        return socket;
    }

    /** The metrics once no request runs and one has been counted as its client's leaving (499). */
    static String awaitIdle(OpenAiServer server) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            String metrics = send(server, "GET", "/metrics", null, null).body();
            if (metrics.contains("panllama_requests_running 0") && metrics.contains("status=\"499\"")) {
                return metrics;
            }
            assertTrue(System.nanoTime() < deadline, "the generation went on after its client left:\n" + metrics);
            Thread.sleep(20);
        }
    }

    static String chat(String extraField) {
        return "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], " + extraField + "}";
    }

    static void assertError(HttpResponse<String> response, int status, String param, String code) {
        assertEquals(status, response.statusCode(), response.body());
        assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));
        Map<String, Object> error = error(response);
        assertEquals(param, error.get("param"), response.body());
        if (code != null) {
            assertEquals(code, error.get("code"), response.body());
        }
    }

    static List<String> events(String stream) {
        List<String> events = new ArrayList<>();
        for (String line : stream.split("\n")) {
            if (line.startsWith("data: ")) {
                events.add(line.substring("data: ".length()));
            }
        }
        return events;
    }

    static double metric(String metrics, String name) {
        for (String line : metrics.split("\n")) {
            if (line.startsWith(name + " ")) {
                return Double.parseDouble(line.substring(name.length() + 1));
            }
        }
        throw new AssertionError(name + " missing from\n" + metrics);
    }
}
