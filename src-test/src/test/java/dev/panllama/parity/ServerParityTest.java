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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * panllama's server against llama-server of the pinned tree, serving the same model file, asked the
 * same requests: the same token ids and pieces ({@code /tokenize}), the same text ({@code /detokenize}),
 * the same prompt from Meta's Llama 3.1 chat template ({@code /apply-template}), the same greedy
 * replies, whole and streamed, cut by a stop string or steered by penalties and logit biases, with the
 * same token counts and finish reasons, the same log probabilities, and the same settings and slot
 * reports ({@code /props}, {@code /slots}). The model has random
 * weights, the Llama 3 vocabulary and that template; both servers run one slot on two threads.
 * <p>
 * Both evaluate each prompt whole, in one micro-batch, as libllama does when asked for it: every
 * generation is asked with llama-server's {@code cache_prompt} false, and llama-server keeps no context
 * checkpoints ({@code --ctx-checkpoints 0}; for a model with chunked attention it would otherwise evaluate
 * a prompt in two parts, to save its state between them). Evaluated in other parts, the same prompt
 * gives logits that differ in their last bits, and this random model's sharp attention makes that up to
 * 0.9 in a logit. (With the cache reused, the two would also start from other points: each keeps what
 * an earlier request left, by rules of its own.)
 */
class ServerParityTest {

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private static final int CONTEXT = 1024;
    private static final List<Map<String, Object>> CONVERSATION = List.of(
            Map.of("role", "system", "content", "You answer in one line."),
            Map.of("role", "user", "content", "What is the capital of France?"),
            Map.of("role", "assistant", "content", "Paris."),
            Map.of("role", "user", "content", "And of Italy? Écris-le en français, s'il te plaît 🙂"));

    @TempDir
    static Path temp;
    static LlamaModel model;
    static OpenAiServer ours;
    static LlamaServerProcess theirs;
    static String oursUrl;
    static String theirsUrl;

    @BeforeAll
    static void startBothServers() throws Exception {
        NativePin pin = NativePin.current();
        Path template = UserCache.user().source(pin).resolve("models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja");
        Path file = temp.resolve("parity.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 4).withTiedOutput(true),
                UserCache.user().vocabularies(pin).resolve("ggml-vocab-llama-bpe.gguf"), file,
                Map.of("tokenizer.chat_template", GgufValue.of(Files.readString(template))));

        theirs = LlamaServerProcess.start(file, temp.resolve("llama-server.log"), "-c", String.valueOf(CONTEXT), "-t", "2", "-np", "1",
                "--ctx-checkpoints", "0");
        theirsUrl = theirs.url();

        model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(CONTEXT));
        ours = OpenAiServer.start(model, ServerOptions.defaults("parity").withPort(0).withParallel(1));
        oursUrl = "http://127.0.0.1:" + ours.port();
    }

    @AfterAll
    static void stopBothServers() throws InterruptedException {
        if (ours != null) {
            ours.close();
        }
        if (model != null) {
            model.close();
        }
        if (theirs != null) {
            theirs.close();
        }
    }

    @Test
    void tokenizeGivesTheSameIdsAndPieces() throws Exception {
        List<Map<String, Object>> bodies = List.of(
                Map.of("content", "Hello world"),
                Map.of("content", "Hello world", "add_special", true),
                Map.of("content", "<|begin_of_text|>Hi<|eot_id|> there", "with_pieces", true),
                Map.of("content", "<|begin_of_text|>Hi<|eot_id|> there", "parse_special", false),
                // Byte-level pieces that are not whole UTF-8 come back as lists of bytes.
                Map.of("content", "á 日本語 🙂 \t\n  x", "with_pieces", true),
                Map.of("content", List.of("Hi", 1917, " there"), "add_special", true));
        for (Map<String, Object> body : bodies) {
            assertSame("/tokenize", body);
        }
    }

    @Test
    void detokenizeGivesTheSameText() throws Exception {
        @SuppressWarnings("unchecked")
        List<Object> ids = (List<Object>) post(oursUrl, "/tokenize", Map.of("content", CONVERSATION.getLast().get("content"))).get("tokens");
        assertSame("/detokenize", Map.of("tokens", ids));
        assertSame("/detokenize", Map.of("tokens", List.of(128000, 9906, 128009, 1917)));
    }

    @Test
    void theChatTemplateRendersTheSamePrompt() throws Exception {
        assertSame("/apply-template", Map.of("messages", CONVERSATION));
        // The tools as the template lists them (tojson with an indent), a call written back (tojson of its
        // arguments) and a text result (tojson of what Python's Jinja deems iterable).
        Map<String, Object> tool = Map.of("type", "function", "function", Map.of("name", "get_weather", "description", "The weather, in °C",
                "parameters", Map.of("type", "object", "properties", Map.of("city", Map.of("type", "string"), "days",
                        Map.of("type", "integer", "minimum", 1)), "required", List.of("city"))));
        assertSame("/apply-template", Map.of("messages", CONVERSATION.subList(0, 2), "tools", List.of(tool)));
        assertSame("/apply-template", Map.of("tools", List.of(tool), "messages", List.of(CONVERSATION.get(0), CONVERSATION.get(1),
                Map.of("role", "assistant", "content", "", "tool_calls", List.of(Map.of("id", "call_1", "type", "function",
                        "function", Map.of("name", "get_weather", "arguments", "{\"city\": \"Paris\", \"days\": 2}")))),
                Map.of("role", "tool", "tool_call_id", "call_1", "content", "Sunny, 21 °C"))));
    }

    @Test
    void greedyRepliesAreTheSame() throws Exception {
        Map<String, Object> chat = Map.of("messages", CONVERSATION, "max_tokens", 16, "temperature", 0);
        assertSameReply(post(oursUrl, "/v1/chat/completions", chat), post(theirsUrl, "/v1/chat/completions", chat), "message");

        Map<String, Object> completion = Map.of("prompt", "Once upon a time, in a land far away,", "max_tokens", 16, "temperature", 0);
        Map<String, Object> ourCompletion = post(oursUrl, "/v1/completions", completion);
        assertSameReply(ourCompletion, post(theirsUrl, "/v1/completions", completion), "text");

        // A stop string inside the greedy reply ends both replies before it.
        String text = (String) choice(ourCompletion).get("text");
        String stop = text.substring(text.length() / 2, text.length() / 2 + 3);
        Map<String, Object> stopped = Map.of("prompt", completion.get("prompt"), "max_tokens", 16, "temperature", 0, "stop", List.of(stop));
        Map<String, Object> ourStopped = post(oursUrl, "/v1/completions", stopped);
        assertEquals("stop", choice(ourStopped).get("finish_reason"), ourStopped.toString());
        assertEquals(choice(post(theirsUrl, "/v1/completions", stopped)).get("text"), choice(ourStopped).get("text"));
    }

    /**
     * OpenAI's Responses API: the same conversation as input items (instructions, messages, an assistant's
     * output text) gives the same greedy text and token counts, whole and streamed, and the same count of
     * input tokens. (At its token limit llama-server calls a response completed, and panllama, as OpenAI
     * does, incomplete: the statuses are not compared.)
     */
    @Test
    @SuppressWarnings("unchecked")
    void theResponsesApiAnswersAlike() throws Exception {
        List<Map<String, Object>> input = List.of(
                Map.of("role", "user", "content", CONVERSATION.get(1).get("content")),
                Map.of("type", "message", "role", "assistant", "content", List.of(Map.of("type", "output_text", "text",
                        CONVERSATION.get(2).get("content")))),
                Map.of("role", "user", "content", List.of(Map.of("type", "input_text", "text", CONVERSATION.get(3).get("content")))));
        Map<String, Object> request = Map.of("instructions", CONVERSATION.get(0).get("content"), "input", input,
                "max_output_tokens", 16, "temperature", 0);
        Map<String, Object> ourResponse = post(oursUrl, "/v1/responses", request);
        Map<String, Object> theirResponse = post(theirsUrl, "/v1/responses", request);
        assertEquals(responseText(theirResponse), responseText(ourResponse), "ours: " + ourResponse + "\ntheirs: " + theirResponse);
        Map<String, Object> ourUsage = (Map<String, Object>) ourResponse.get("usage");
        Map<String, Object> theirUsage = (Map<String, Object>) theirResponse.get("usage");
        for (String count : List.of("input_tokens", "output_tokens", "total_tokens", "input_tokens_details")) {
            assertEquals(theirUsage.get(count), ourUsage.get(count), count);
        }
        assertEquals(responseText(theirResponse), typedEventsText(oursUrl, request));
        assertEquals(responseText(theirResponse), typedEventsText(theirsUrl, request));
        assertSame("/v1/responses/input_tokens", request);
        assertSame("/v1/chat/completions/input_tokens", Map.of("messages", CONVERSATION));
    }

    /**
     * Anthropic's Messages API: a conversation (a system text, messages of text and of text blocks) gives
     * the same greedy text, stop reason and token counts, and the same count of input tokens; panllama's
     * stream gives the same text. llama-server's stream is not compared: its Messages API passes no
     * {@code cache_prompt} on, so it would reuse the cache the whole reply left (see the class's comment), and
     * the conversation is one no other test sends, so that its whole reply is evaluated from the start.
     */
    @Test
    @SuppressWarnings("unchecked")
    void theMessagesApiAnswersAlike() throws Exception {
        List<Map<String, Object>> messages = List.of(
                Map.of("role", "user", "content", CONVERSATION.get(1).get("content")),
                Map.of("role", "assistant", "content", List.of(Map.of("type", "text", "text", CONVERSATION.get(2).get("content")))),
                Map.of("role", "user", "content", "And of Spain?"));
        Map<String, Object> request = Map.of("system", CONVERSATION.get(0).get("content"), "messages", messages, "max_tokens", 16,
                "temperature", 0);
        Map<String, Object> ours = post(oursUrl, "/v1/messages", request);
        Map<String, Object> theirs = post(theirsUrl, "/v1/messages", request);
        assertEquals(messageText(theirs), messageText(ours), "ours: " + ours + "\ntheirs: " + theirs);
        assertEquals(theirs.get("stop_reason"), ours.get("stop_reason"));
        Map<String, Object> ourUsage = (Map<String, Object>) ours.get("usage");
        Map<String, Object> theirUsage = (Map<String, Object>) theirs.get("usage");
        for (String count : List.of("input_tokens", "output_tokens", "cache_read_input_tokens")) {
            assertEquals(theirUsage.get(count), ourUsage.get(count), count);
        }
        Map<String, Object> streamed = new LinkedHashMap<>(request);
        streamed.put("stream", true);
        StringBuilder text = new StringBuilder();
        for (Map<String, Object> event : events(oursUrl, "/v1/messages", streamed)) {
            if ("content_block_delta".equals(event.get("type"))) {
                text.append(((Map<String, Object>) event.get("delta")).get("text"));
            }
        }
        assertEquals(messageText(theirs), text.toString());
        assertSame("/v1/messages/count_tokens", Map.of("system", CONVERSATION.get(0).get("content"), "messages", messages));
    }

    /** The text of a message's text blocks. */
    @SuppressWarnings("unchecked")
    private static String messageText(Map<String, Object> message) {
        StringBuilder text = new StringBuilder();
        for (Map<String, Object> block : (List<Map<String, Object>>) message.get("content")) {
            if ("text".equals(block.get("type"))) {
                text.append(block.get("text"));
            }
        }
        return text.toString();
    }

    /** The text of a response's message items. */
    @SuppressWarnings("unchecked")
    private static String responseText(Map<String, Object> response) {
        StringBuilder text = new StringBuilder();
        for (Map<String, Object> item : (List<Map<String, Object>>) response.get("output")) {
            if ("message".equals(item.get("type"))) {
                ((List<Map<String, Object>>) item.get("content")).forEach(part -> text.append(part.get("text")));
            }
        }
        return text.toString();
    }

    /** The text deltas of a streamed response, joined. */
    private static String typedEventsText(String base, Map<String, Object> request) throws Exception {
        Map<String, Object> streamed = new LinkedHashMap<>(request);
        streamed.put("stream", true);
        StringBuilder text = new StringBuilder();
        for (Map<String, Object> event : events(base, "/v1/responses", streamed)) {
            if ("response.output_text.delta".equals(event.get("type"))) {
                text.append(event.get("delta"));
            }
        }
        return text.toString();
    }

    @Test
    void penaltiesAndLogitBiasesSteerBothRepliesAlike() throws Exception {
        // The random model repeats itself greedily: the penalties change its reply, the same way in both.
        Map<String, Object> chat = Map.of("messages", CONVERSATION, "max_tokens", 16, "temperature", 0, "repeat_penalty", 1.5,
                "frequency_penalty", 0.5, "presence_penalty", 0.3, "logit_bias", Map.of("1917", 3));
        assertSameReply(post(oursUrl, "/v1/chat/completions", chat), post(theirsUrl, "/v1/chat/completions", chat), "message");
    }

    @Test
    @SuppressWarnings("unchecked")
    void logprobsAreTheSameTokensWithTheSameProbabilities() throws Exception {
        Map<String, Object> chat = Map.of("messages", CONVERSATION.subList(0, 2), "max_tokens", 6, "temperature", 0, "logprobs", true,
                "top_logprobs", 3);
        List<Map<String, Object>> ours = (List<Map<String, Object>>) ((Map<String, Object>) choice(post(oursUrl, "/v1/chat/completions", chat))
                .get("logprobs")).get("content");
        List<Map<String, Object>> theirs = (List<Map<String, Object>>) ((Map<String, Object>) choice(post(theirsUrl, "/v1/chat/completions", chat))
                .get("logprobs")).get("content");
        assertEquals(theirs.size(), ours.size());
        for (int i = 0; i < ours.size(); i++) {
            assertSameLogprob(theirs.get(i), ours.get(i), "token " + i);
            List<Map<String, Object>> ourTop = (List<Map<String, Object>>) ours.get(i).get("top_logprobs");
            List<Map<String, Object>> theirTop = (List<Map<String, Object>>) theirs.get(i).get("top_logprobs");
            assertEquals(theirTop.size(), ourTop.size(), "token " + i);
            for (int k = 0; k < ourTop.size(); k++) {
                assertSameLogprob(theirTop.get(k), ourTop.get(k), "token " + i + ", alternative " + k);
            }
        }
    }

    /** The same token and bytes, and a log probability within 1e-3 (llama-server sums the softmax in float, panllama in double). */
    private static void assertSameLogprob(Map<String, Object> theirs, Map<String, Object> ours, String where) {
        assertEquals(theirs.get("token"), ours.get("token"), where);
        assertEquals(theirs.get("bytes"), ours.get("bytes"), where);
        assertEquals((Double) theirs.get("logprob"), (Double) ours.get("logprob"), 1e-3, where);
    }

    @Test
    void streamedGreedyRepliesAreTheSame() throws Exception {
        Map<String, Object> chat = Map.of("messages", CONVERSATION.subList(0, 2), "max_tokens", 12, "temperature", 0, "stream", true);
        assertEquals(streamedText(theirsUrl, chat), streamedText(oursUrl, chat));
    }

    /**
     * llama-server's own {@code /completion}: the same greedy content and the same fields (stop type, stopping
     * word, token counts, the prompt's text, the generated ids), whole and streamed; and under a GBNF grammar,
     * the same constrained greedy reply.
     */
    @Test
    @SuppressWarnings("unchecked")
    void theCompletionEndpointAnswersAlike() throws Exception {
        String prompt = "Once upon a time, in a land far away,";
        Map<String, Object> plain = Map.of("prompt", prompt, "n_predict", 16, "temperature", 0, "return_tokens", true);
        Map<String, Object> ourPlain = post(oursUrl, "/completion", plain);
        assertSameCompletion(post(theirsUrl, "/completion", plain), ourPlain);
        String content = (String) ourPlain.get("content");
        String stop = content.substring(content.length() / 2, content.length() / 2 + 3);
        Map<String, Object> stopped = Map.of("prompt", prompt, "n_predict", 16, "temperature", 0, "stop", List.of("\u0000never", stop));
        Map<String, Object> ourStopped = post(oursUrl, "/completion", stopped);
        assertEquals("word", ourStopped.get("stop_type"), ourStopped.toString());
        assertEquals(stop, ourStopped.get("stopping_word"));
        assertSameCompletion(post(theirsUrl, "/completions", stopped), ourStopped);
        Map<String, Object> grammar = Map.of("prompt", prompt, "n_predict", 40, "temperature", 0,
                "grammar", "root ::= [a-z]+ (\" \" [a-z]+){2,5} \".\"");
        assertSameCompletion(post(theirsUrl, "/completion", grammar), post(oursUrl, "/completion", grammar));

        Map<String, Object> scored = Map.of("prompt", prompt, "n_predict", 5, "temperature", 0, "n_probs", 3);
        List<Map<String, Object>> ourScores = (List<Map<String, Object>>) post(oursUrl, "/completion", scored).get("completion_probabilities");
        List<Map<String, Object>> theirScores = (List<Map<String, Object>>) post(theirsUrl, "/completion", scored).get("completion_probabilities");
        assertEquals(theirScores.size(), ourScores.size());
        for (int i = 0; i < ourScores.size(); i++) {
            assertSameLogprob(theirScores.get(i), ourScores.get(i), "token " + i);
            assertEquals(theirScores.get(i).get("id"), ourScores.get(i).get("id"), "token " + i);
            List<Map<String, Object>> ourTop = (List<Map<String, Object>>) ourScores.get(i).get("top_logprobs");
            List<Map<String, Object>> theirTop = (List<Map<String, Object>>) theirScores.get(i).get("top_logprobs");
            assertEquals(theirTop.size(), ourTop.size(), "token " + i);
            for (int k = 0; k < ourTop.size(); k++) {
                assertSameLogprob(theirTop.get(k), ourTop.get(k), "token " + i + ", alternative " + k);
                assertEquals(theirTop.get(k).get("id"), ourTop.get(k).get("id"), "token " + i + ", alternative " + k);
            }
        }

        Map<String, Object> streamed = Map.of("prompt", prompt, "n_predict", 12, "temperature", 0, "stream", true);
        List<Map<String, Object>> ourEvents = events(oursUrl, "/completion", streamed);
        List<Map<String, Object>> theirEvents = events(theirsUrl, "/completion", streamed);
        assertEquals(joined(theirEvents), joined(ourEvents));
        assertEquals(true, ourEvents.getLast().get("stop"));
        assertEquals(theirEvents.getLast().get("tokens_predicted"), ourEvents.getLast().get("tokens_predicted"));
        assertEquals(theirEvents.getLast().get("stop_type"), ourEvents.getLast().get("stop_type"));
    }

    /**
     * {@code /props}: the same context, slots, chat template and tokens, and each default sampling setting
     * panllama reports the value llama-server reports under the same name.
     */
    @Test
    @SuppressWarnings("unchecked")
    void propsReportTheSameSettings() throws Exception {
        Map<String, Object> ourProps = get(oursUrl, "/props");
        Map<String, Object> theirProps = get(theirsUrl, "/props");
        for (String field : List.of("total_slots", "chat_template", "bos_token", "eos_token", "modalities")) {
            assertEquals(theirProps.get(field), ourProps.get(field), field);
        }
        Map<String, Object> ourSettings = (Map<String, Object>) ourProps.get("default_generation_settings");
        Map<String, Object> theirSettings = (Map<String, Object>) theirProps.get("default_generation_settings");
        assertEquals(theirSettings.get("n_ctx"), ourSettings.get("n_ctx"));
        assertSameParams((Map<String, Object>) theirSettings.get("params"), (Map<String, Object>) ourSettings.get("params"));
    }

    /**
     * {@code /slots} after the same request to each: the same slot, prompt and generation counts, and each
     * sampling setting panllama reports the value llama-server reports under the same name.
     */
    @Test
    @SuppressWarnings("unchecked")
    void slotsReportTheSameRequest() throws Exception {
        Map<String, Object> request = Map.of("prompt", "Once upon a time, in a land far away,", "n_predict", 6, "temperature", 0,
                "seed", 42, "top_k", 7, "repeat_penalty", 1.1);
        post(theirsUrl, "/completion", request);
        post(oursUrl, "/completion", request);
        Map<String, Object> ourSlot = onlySlot(oursUrl);
        Map<String, Object> theirSlot = onlySlot(theirsUrl);
        for (String field : List.of("id", "n_ctx", "is_processing", "n_prompt_tokens", "n_prompt_tokens_processed", "n_prompt_tokens_cache")) {
            assertEquals(theirSlot.get(field), ourSlot.get(field), field);
        }
        assertEquals(theirSlot.get("next_token"), ourSlot.get("next_token"));
        assertSameParams((Map<String, Object>) theirSlot.get("params"), (Map<String, Object>) ourSlot.get("params"));
    }

    /** Each sampling setting panllama reports has the value llama-server reports under the same name (numbers as llama-server's floats). */
    private static void assertSameParams(Map<String, Object> theirs, Map<String, Object> ours) {
        ours.forEach((name, value) -> {
            Object expected = theirs.get(name);
            if (value instanceof Number number && expected instanceof Number their) {
                assertEquals(their.doubleValue(), number.doubleValue(), 1e-6, name);
            } else {
                assertEquals(expected, value, name);
            }
        });
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> onlySlot(String base) throws Exception {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/slots")).timeout(Duration.ofMinutes(1)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), base + "/slots: " + response.body());
        List<Map<String, Object>> slots = (List<Map<String, Object>>) JsonReader.parse(response.body());
        assertEquals(1, slots.size(), response.body());
        return slots.getFirst();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> get(String base, String path) throws Exception {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofMinutes(1)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), base + path + ": " + response.body());
        return (Map<String, Object>) JsonReader.parse(response.body());
    }

    private static void assertSameCompletion(Map<String, Object> theirs, Map<String, Object> ours) {
        for (String field : List.of("content", "id_slot", "tokens", "stop", "tokens_predicted", "tokens_evaluated", "prompt", "has_new_line",
                "truncated", "stop_type", "stopping_word", "tokens_cached")) {
            assertEquals(theirs.get(field), ours.get(field), field + "\nours: " + ours + "\ntheirs: " + theirs);
        }
        Map<?, ?> ourTimings = (Map<?, ?>) ours.get("timings");
        Map<?, ?> theirTimings = (Map<?, ?>) theirs.get("timings");
        assertEquals(theirTimings.keySet(), ourTimings.keySet());
        for (String count : List.of("prompt_n", "predicted_n")) {
            assertEquals(theirTimings.get(count), ourTimings.get(count), count);
        }
    }

    /** The events of a llama-server stream, which ends without OpenAI's [DONE]. */
    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> events(String base, String path, Map<String, Object> body) throws Exception {
        HttpResponse<String> response = send(base, path, body);
        assertEquals(200, response.statusCode(), response.body());
        List<Map<String, Object>> events = new java.util.ArrayList<>();
        for (String line : response.body().split("\n")) {
            if (line.startsWith("data: ")) {
                assertEquals(false, line.equals("data: [DONE]"), base);
                events.add((Map<String, Object>) JsonReader.parse(line.substring("data: ".length())));
            }
        }
        return events;
    }

    private static String joined(List<Map<String, Object>> events) {
        StringBuilder text = new StringBuilder();
        events.forEach(event -> text.append(event.get("content")));
        return text.toString();
    }

    private static void assertSameReply(Map<String, Object> ours, Map<String, Object> theirs, String field) {
        Map<String, Object> our = choice(ours);
        Map<String, Object> their = choice(theirs);
        Object ourText = field.equals("message") ? ((Map<?, ?>) our.get("message")).get("content") : our.get(field);
        Object theirText = field.equals("message") ? ((Map<?, ?>) their.get("message")).get("content") : their.get(field);
        assertEquals(theirText, ourText, "ours: " + ours + "\ntheirs: " + theirs);
        assertEquals(their.get("finish_reason"), our.get("finish_reason"));
        Map<?, ?> ourUsage = (Map<?, ?>) ours.get("usage");
        Map<?, ?> theirUsage = (Map<?, ?>) theirs.get("usage");
        assertEquals(theirUsage.get("prompt_tokens"), ourUsage.get("prompt_tokens"), "prompt tokens");
        assertEquals(theirUsage.get("completion_tokens"), ourUsage.get("completion_tokens"), "completion tokens");
        assertEquals(theirUsage.get("prompt_tokens_details"), ourUsage.get("prompt_tokens_details"), "cached tokens");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> choice(Map<String, Object> reply) {
        return ((List<Map<String, Object>>) reply.get("choices")).getFirst();
    }

    /** The content of a streamed chat reply's deltas, joined. */
    @SuppressWarnings("unchecked")
    private static String streamedText(String base, Map<String, Object> body) throws Exception {
        HttpResponse<String> response = send(base, "/v1/chat/completions", body);
        assertEquals(200, response.statusCode(), response.body());
        StringBuilder text = new StringBuilder();
        for (String line : response.body().split("\n")) {
            if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
                continue;
            }
            Map<String, Object> event = (Map<String, Object>) JsonReader.parse(line.substring("data: ".length()));
            for (Map<String, Object> choice : (List<Map<String, Object>>) event.get("choices")) {
                Object content = ((Map<String, Object>) choice.get("delta")).get("content");
                if (content instanceof String piece) {
                    text.append(piece);
                }
            }
        }
        return text.toString();
    }

    private static void assertSame(String path, Map<String, Object> body) throws Exception {
        assertEquals(post(theirsUrl, path, body), post(oursUrl, path, body), path + " " + JsonWriter.write(body));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> post(String base, String path, Map<String, Object> body) throws Exception {
        HttpResponse<String> response = send(base, path, body);
        assertEquals(200, response.statusCode(), base + path + ": " + response.body());
        return (Map<String, Object>) JsonReader.parse(response.body());
    }

    /** Posts {@code body}; a generation's with {@code cache_prompt} false (see the class's comment). */
    private static HttpResponse<String> send(String base, String path, Map<String, Object> body) throws Exception {
        Map<String, Object> sent = new LinkedHashMap<>(body);
        if (path.startsWith("/v1/") || path.startsWith("/completion")) {
            sent.put("cache_prompt", false);
        }
        HttpRequest request = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofMinutes(2))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(JsonWriter.write(sent))).build();
        try {
            return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException closed) {
            // llama-server closes a connection once it has streamed a reply, without saying so: a request sent
            // over it at once finds it closed. Every request here may be sent again (greedy, whole prompts).
            return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        }
    }
}
