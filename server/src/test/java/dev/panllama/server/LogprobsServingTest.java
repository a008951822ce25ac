package dev.panllama.server;

import dev.panllama.api.Completion;
import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;
import dev.panllama.json.JsonWriter;
import dev.panllama.sampling.SamplingOptions;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.panllama.server.OpenAiServerTest.assertError;
import static dev.panllama.server.OpenAiServerTest.chat;
import static dev.panllama.server.OpenAiServerTest.events;
import static dev.panllama.server.OpenAiServerTest.json;
import static dev.panllama.server.OpenAiServerTest.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code logprobs}: each generated token's log probability under the model's own distribution, and
 * the most likely tokens, checked against the logits the facade computes for the same prompt, whole
 * and streamed, in a chat's shape and a text completion's.
 */
class LogprobsServingTest extends ServedModel {

    /** The server's batched evaluation and the facade's compute a lone request's logits alike; the sums differ in order only. */
    private static final double TOLERANCE = 1e-4;
    private static final int TOKENS = 10;

    private static OpenAiServer start() {
        return OpenAiServer.start(model, ServerOptions.defaults(TestModel.ID).withPort(0));
    }

    /** The facade's greedy tokens after {@code prompt}, and the logits each was picked from. */
    private record Reference(int[] tokens, List<float[]> logits) {
    }

    private static Reference reference(int[] prompt) {
        List<float[]> logits = new ArrayList<>();
        try (Completion completion = model.newCompletion()) {
            Generation generation = completion.complete(prompt,
                    GenerationOptions.defaults().withSampling(SamplingOptions.greedy()).withMaxTokens(TOKENS), text -> { },
                    (position, row) -> logits.add(row), 1);
            return new Reference(generation.generatedIds(), logits);
        }
    }

    private static double logprob(float[] logits, int token) {
        double sum = 0;
        for (float logit : logits) {
            sum += Math.exp(logit);
        }
        return logits[token] - Math.log(sum);
    }

    /** The ids of the {@code count} largest logits, largest first. */
    private static List<Integer> top(float[] logits, int count) {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < logits.length; i++) {
            ids.add(i);
        }
        ids.sort((a, b) -> Float.compare(logits[b], logits[a]));
        return ids.subList(0, count);
    }

    private static String text(int token) {
        return new String(model.tokenizer().pieceBytes(token, false), StandardCharsets.UTF_8);
    }

    @Test
    @SuppressWarnings("unchecked")
    void aTextCompletionsLogprobsAreTheModelsWholeAndStreamed() throws Exception {
        String promptText = "The river runs past the old mill and";
        int[] prompt = model.tokenizer().encode(promptText, true, true);
        Reference expected = reference(prompt);
        Map<String, Object> request = new LinkedHashMap<>();
        request.put("prompt", promptText);
        request.put("max_tokens", TOKENS);
        request.put("temperature", 0);
        request.put("logprobs", 3);
        try (OpenAiServer server = start()) {
            HttpResponse<String> response = post(server, "/v1/completions", JsonWriter.write(request));
            assertEquals(200, response.statusCode(), response.body());
            Map<String, Object> choice = ((List<Map<String, Object>>) json(response.body()).get("choices")).getFirst();
            Map<String, Object> logprobs = (Map<String, Object>) choice.get("logprobs");
            List<String> tokens = (List<String>) logprobs.get("tokens");
            List<Number> tokenLogprobs = (List<Number>) logprobs.get("token_logprobs");
            List<Map<String, Number>> tops = (List<Map<String, Number>>) logprobs.get("top_logprobs");
            List<Number> offsets = (List<Number>) logprobs.get("text_offset");
            assertEquals(expected.tokens().length, tokens.size(), response.body());
            int offset = promptText.codePointCount(0, promptText.length());
            for (int i = 0; i < tokens.size(); i++) {
                int token = expected.tokens()[i];
                float[] logits = expected.logits().get(i);
                assertEquals(text(token), tokens.get(i), "token " + i);
                assertEquals(logprob(logits, token), tokenLogprobs.get(i).doubleValue(), TOLERANCE, "token " + i);
                // The three most likely, the chosen (greedy: the first of them) among them.
                Map<String, Number> top = tops.get(i);
                Set<String> expectedTop = new HashSet<>();
                for (int id : top(logits, 3)) {
                    expectedTop.add(text(id));
                    assertEquals(logprob(logits, id), top.get(text(id)).doubleValue(), TOLERANCE, "token " + i + ", candidate " + id);
                }
                assertEquals(expectedTop, top.keySet(), "token " + i);
                assertEquals(offset, offsets.get(i).intValue(), "token " + i);
                offset += tokens.get(i).codePointCount(0, tokens.get(i).length());
            }

            // Streamed: the chunks' lists, joined, are the whole reply's.
            request.put("stream", true);
            HttpResponse<String> stream = post(server, "/v1/completions", JsonWriter.write(request));
            assertEquals(200, stream.statusCode(), stream.body());
            Map<String, List<Object>> joined = new LinkedHashMap<>();
            for (String event : events(stream.body())) {
                if (event.equals("[DONE]")) {
                    continue;
                }
                Map<String, Object> chunk = ((List<Map<String, Object>>) json(event).get("choices")).getFirst();
                if (chunk.get("logprobs") instanceof Map<?, ?> piece) {
                    // A chunk carries the scores of the tokens its text came from.
                    assertEquals(chunk.get("text"), String.join("", (List<String>) piece.get("tokens")), event);
                    for (String field : List.of("tokens", "token_logprobs", "top_logprobs", "text_offset")) {
                        joined.computeIfAbsent(field, f -> new ArrayList<>()).addAll((List<Object>) piece.get(field));
                    }
                }
            }
            for (String field : List.of("tokens", "token_logprobs", "top_logprobs", "text_offset")) {
                assertEquals(logprobs.get(field), joined.get(field), field);
            }
        }
    }

    /**
     * llama-server's XTC fields reach the sampler: at probability 1 and threshold 0 over the two most likely
     * tokens (top-p and min-p off, which would leave only the first of a peaked pair), XTC removes every token
     * but the least likely, so that each token drawn is the second most likely.
     */
    @Test
    @SuppressWarnings("unchecked")
    void xtcAtCertaintyTakesTheSecondMostLikelyToken() throws Exception {
        String body = chat("\"temperature\": 1, \"seed\": 3, \"top_k\": 2, \"top_p\": 1, \"min_p\": 0, \"xtc_probability\": 1, \"xtc_threshold\": 0,"
                + " \"max_tokens\": " + TOKENS + ", \"logprobs\": true, \"top_logprobs\": 2");
        try (OpenAiServer server = start()) {
            HttpResponse<String> response = post(server, "/v1/chat/completions", body);
            assertEquals(200, response.statusCode(), response.body());
            Map<String, Object> choice = ((List<Map<String, Object>>) json(response.body()).get("choices")).getFirst();
            List<Map<String, Object>> entries = (List<Map<String, Object>>) ((Map<String, Object>) choice.get("logprobs")).get("content");
            assertTrue(!entries.isEmpty(), response.body());
            for (Map<String, Object> entry : entries) {
                List<Map<String, Object>> top = (List<Map<String, Object>>) entry.get("top_logprobs");
                assertEquals(top.get(1).get("token"), entry.get("token"), entry.toString());
            }
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void aChatsLogprobsListEveryTokenWithItsBytesAndAlternatives() throws Exception {
        String body = chat("\"temperature\": 0, \"max_tokens\": " + TOKENS + ", \"logprobs\": true, \"top_logprobs\": 2");
        try (OpenAiServer server = start()) {
            HttpResponse<String> response = post(server, "/v1/chat/completions", body);
            assertEquals(200, response.statusCode(), response.body());
            Map<String, Object> reply = json(response.body());
            Map<String, Object> choice = ((List<Map<String, Object>>) reply.get("choices")).getFirst();
            String content = (String) ((Map<String, Object>) choice.get("message")).get("content");
            List<Map<String, Object>> entries = (List<Map<String, Object>>) ((Map<String, Object>) choice.get("logprobs")).get("content");
            assertEquals(((Map<String, Number>) reply.get("usage")).get("completion_tokens").intValue(), entries.size(), response.body());
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            for (Map<String, Object> entry : entries) {
                double logprob = ((Number) entry.get("logprob")).doubleValue();
                assertTrue(logprob <= 0, entry.toString());
                List<Map<String, Object>> top = (List<Map<String, Object>>) entry.get("top_logprobs");
                assertEquals(2, top.size(), entry.toString());
                double first = ((Number) top.get(0).get("logprob")).doubleValue();
                assertTrue(first >= ((Number) top.get(1).get("logprob")).doubleValue(), entry.toString());
                // Greedy, without penalties: the chosen token is the most likely one.
                assertEquals(entry.get("token"), top.get(0).get("token"), entry.toString());
                assertEquals(first, logprob, 0, entry.toString());
                for (Object b : (List<Object>) entry.get("bytes")) {
                    bytes.write(((Number) b).intValue());
                }
            }
            // The tokens' bytes make the reply's text.
            assertEquals(content, bytes.toString(StandardCharsets.UTF_8));

            // Streamed: the same entries, spread over the chunks.
            HttpResponse<String> stream = post(server, "/v1/chat/completions", "{\"stream\": true, " + body.substring(1));
            assertEquals(200, stream.statusCode(), stream.body());
            List<Object> streamed = new ArrayList<>();
            for (String event : events(stream.body())) {
                if (event.equals("[DONE]")) {
                    continue;
                }
                Map<String, Object> chunk = ((List<Map<String, Object>>) json(event).get("choices")).getFirst();
                if (chunk.get("logprobs") instanceof Map<?, ?> piece) {
                    streamed.addAll((List<Object>) piece.get("content"));
                }
            }
            assertEquals(entries, streamed);

            // Without logprobs, none.
            Map<String, Object> plain = ((List<Map<String, Object>>) json(post(server, "/v1/chat/completions",
                    chat("\"max_tokens\": 2")).body()).get("choices")).getFirst();
            assertTrue(plain.containsKey("logprobs") && plain.get("logprobs") == null, plain.toString());
        }
    }

    @Test
    void badLogprobsAreRefused() throws Exception {
        try (OpenAiServer server = start()) {
            assertError(post(server, "/v1/chat/completions", chat("\"logprobs\": true, \"top_logprobs\": 21")), 400, "top_logprobs", null);
            assertError(post(server, "/v1/chat/completions", chat("\"top_logprobs\": 2")), 400, "top_logprobs", null);
            assertError(post(server, "/v1/chat/completions", chat("\"logprobs\": 3")), 400, "logprobs", null);
            assertError(post(server, "/v1/completions", "{\"prompt\": \"Hi\", \"logprobs\": 21}"), 400, "logprobs", null);
            assertError(post(server, "/v1/completions", "{\"prompt\": \"Hi\", \"logprobs\": true}"), 400, "logprobs", null);
            assertEquals(200, post(server, "/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 2, \"logprobs\": 0}").statusCode());
        }
    }
}
