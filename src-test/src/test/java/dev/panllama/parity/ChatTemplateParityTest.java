package dev.panllama.parity;

import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.chat.ChatFormat;
import dev.panllama.ggml.GgmlType;
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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The chat templates of the Llama family in the pinned tree's {@code models/templates} (Meta's own and
 * fine-tunes of Llama models: DeepSeek's R1 distillation, Nous Research's Hermes, MeetKai's functionary),
 * each given to panllama's server and to llama-server of the same tree ({@code --chat-template-file}),
 * lay out the same conversations in the same prompt ({@code /apply-template}): a plain exchange, tools
 * offered, and a tool's call and result; and the formats built in on both sides (Llama 4's, Llama 3's,
 * ChatML) a plain exchange.
 */
class ChatTemplateParityTest {

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private static final Map<String, Object> TOOL = Map.of("type", "function", "function", Map.of("name", "get_weather",
            "description", "The weather in a city", "parameters", Map.of("type", "object", "properties",
                    Map.of("city", Map.of("type", "string", "description", "The city"), "days", Map.of("type", "integer")),
                    "required", List.of("city"))));
    private static final Map<String, Map<String, Object>> CONVERSATIONS = Map.of(
            "plain", Map.of("messages", List.of(Map.of("role", "system", "content", "You answer in one line."),
                    Map.of("role", "user", "content", "What is the capital of France?"), Map.of("role", "assistant", "content", "Paris."),
                    Map.of("role", "user", "content", "And of Italy?"))),
            "tools", Map.of("tools", List.of(TOOL), "messages", List.of(Map.of("role", "system", "content", "Be kind."),
                    Map.of("role", "user", "content", "Weather in Paris?"))),
            "call", Map.of("tools", List.of(TOOL), "messages", List.of(Map.of("role", "system", "content", "Be kind."),
                    Map.of("role", "user", "content", "Weather in Paris?"),
                    Map.of("role", "assistant", "content", "", "tool_calls", List.of(Map.of("id", "call_1", "type", "function",
                            "function", Map.of("name", "get_weather", "arguments", "{\"city\": \"Paris\", \"days\": 2}")))),
                    Map.of("role", "tool", "tool_call_id", "call_1", "content", "Sunny, 21 °C"))));

    @TempDir
    static Path temp;
    static Path file;
    static LlamaModel model;

    @BeforeAll
    static void writeModel() throws Exception {
        file = temp.resolve("templates.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 6).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), file);
        model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(512));
    }

    @AfterAll
    static void closeModel() {
        model.close();
    }

    @ParameterizedTest(name = "{0}: {1}")
    @CsvSource({
            "meta-llama-Llama-3.1-8B-Instruct.jinja, plain tools call",
            "meta-llama-Llama-3.2-3B-Instruct.jinja, plain tools call",
            "meta-llama-Llama-3.3-70B-Instruct.jinja, plain tools call",
            "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja, plain tools call",
            "meetkai-functionary-medium-v3.1.jinja, plain tools call",
            "meetkai-functionary-medium-v3.2.jinja, plain tools call",
            "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja, plain tools call",
            "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja, plain tools call",
            // No system role: its text starts the first user turn.
            "google-gemma-2-2b-it.jinja, plain"})
    void theTemplateLaysOutTheConversationsAsLlamaServerDoes(String name, String conversations) throws Exception {
        Path template = UserCache.user().source(NativePin.current()).resolve("models/templates").resolve(name);
        try (BothServers servers = BothServers.serving(template, name + ".log")) {
            for (String conversation : conversations.split(" ")) {
                Map<String, Object> body = CONVERSATIONS.get(conversation);
                assertEquals(prompt(servers.theirs(), body), prompt(servers.ours(), body), name + ", " + conversation);
            }
        }
    }

    /**
     * A template that adds missing and none values to texts (as templates do with a message's optional fields)
     * lays out a plain exchange as llama-server's Jinja does: the missing value adds nothing.
     */
    @Test
    void missingValuesAddedToTextsAddNothingAsInLlamaServer() throws Exception {
        Path template = temp.resolve("adds-missing.jinja");
        Files.writeString(template, "{%- for m in messages -%}{{ '<' + m.role + '>' + m.reasoning_content + m.content + m.missing + '\\n' }}"
                + "{%- endfor -%}{{ none + '[' + undefined_name + ']' }}{% if add_generation_prompt %}{{ '<assistant>' }}{% endif %}");
        try (BothServers servers = BothServers.serving(template, "adds-missing.log")) {
            Map<String, Object> body = CONVERSATIONS.get("plain");
            String expected = prompt(servers.theirs(), body);
            assertEquals(expected, prompt(servers.ours(), body));
            assertFalse(expected.contains("null") || expected.contains("None"), expected);
        }
    }

    /**
     * A request's {@code chat_template_kwargs} reach the template as in llama-server: Qwen 3's template closes
     * the thinking block at once with {@code enable_thinking: false}; a text for it is refused by both.
     */
    @Test
    void aRequestsTemplateKwargsReachTheTemplateAsInLlamaServer() throws Exception {
        Path template = UserCache.user().source(NativePin.current()).resolve("models/templates/Qwen-Qwen3-0.6B.jinja");
        try (BothServers servers = BothServers.serving(template, "kwargs.log")) {
            Map<String, Object> body = new java.util.HashMap<>(CONVERSATIONS.get("plain"));
            body.put("chat_template_kwargs", Map.of("enable_thinking", false));
            String expected = prompt(servers.theirs(), body);
            assertEquals(expected, prompt(servers.ours(), body));
            assertTrue(expected.endsWith("<think>\n\n</think>\n\n"), expected);

            body.put("chat_template_kwargs", Map.of("enable_thinking", "no"));
            for (String base : List.of(servers.theirs(), servers.ours())) {
                HttpResponse<String> refused = post(base, "/apply-template", body);
                assertEquals(400, refused.statusCode(), base + ": " + refused.body());
                assertTrue(refused.body().contains("enable_thinking"), refused.body());
            }
        }
    }

    /**
     * DeepSeek R1's template opens a reasoning block in the prompt; the reply's reasoning comes apart as
     * {@code reasoning_content}, whole and streamed, as llama-server gives it: by default, cut off inside the block,
     * and with {@code reasoning_format: none} (all in the text, the block's opening included). The reply is forced
     * by a grammar, so that a random model writes the tag.
     */
    @Test
    void aReasoningBlockComesApartAsInLlamaServer() throws Exception {
        Path template = UserCache.user().source(NativePin.current()).resolve("models/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja");
        try (BothServers servers = BothServers.serving(template, "reasoning.log")) {
            for (Map<String, Object> extra : List.<Map<String, Object>>of(Map.of(), Map.of("max_tokens", 4), Map.of("reasoning_format", "none"))) {
                Map<String, Object> body = new java.util.HashMap<>(CONVERSATIONS.get("plain"));
                body.put("grammar", "root ::= \"I ponder.\\n\\nMore. \" \"</think>\" \"\\n\\nRome it is.\"");
                body.put("max_tokens", 40);
                body.put("temperature", 0);
                body.putAll(extra);
                List<String> expected = reasoningAndText(servers.theirs(), body);
                assertEquals(expected, reasoningAndText(servers.ours(), body), extra.toString());
                body.put("stream", true);
                assertEquals(expected, reasoningAndText(servers.theirs(), body), "llama-server streams what it answers whole");
                assertEquals(expected, reasoningAndText(servers.ours(), body), "streamed, " + extra);
            }
            // Ollama's think: the same reasoning apart, as message.thinking (no grammar there: the reply stays inside the block).
            Map<String, Object> openAi = new java.util.HashMap<>(CONVERSATIONS.get("plain"));
            openAi.putAll(Map.of("temperature", 0, "max_tokens", 6));
            List<String> expected = reasoningAndText(servers.ours(), openAi);
            assertTrue(expected.getFirst().startsWith("\n") && expected.getFirst().length() > 1, expected.toString());
            for (boolean stream : List.of(false, true)) {
                Map<String, Object> ollama = new java.util.HashMap<>(CONVERSATIONS.get("plain"));
                ollama.putAll(Map.of("model", "templates", "think", true, "stream", stream, "options", Map.of("temperature", 0, "num_predict", 6)));
                StringBuilder thinking = new StringBuilder();
                StringBuilder content = new StringBuilder();
                for (String line : post(servers.ours(), "/api/chat", ollama).body().strip().split("\n")) {
                    Map<?, ?> message = (Map<?, ?>) ((Map<?, ?>) JsonReader.parse(line)).get("message");
                    thinking.append(message.get("thinking") instanceof String piece ? piece : "");
                    content.append(message.get("content"));
                }
                assertEquals(expected, List.of(thinking.toString(), content.toString()), "Ollama's think, stream " + stream);
            }
            // Anthropic's Messages API: the reasoning as a thinking block, as llama-server gives it, whole and streamed.
            Map<String, Object> anthropic = new java.util.HashMap<>(Map.of("model", "templates", "max_tokens", 6, "temperature", 0,
                    "messages", List.of(Map.of("role", "user", "content", "What is the capital of France?"))));
            String theirMessage = JsonWriter.write(((Map<?, ?>) JsonReader.parse(post(servers.theirs(), "/v1/messages", anthropic).body())).get("content"));
            assertEquals(theirMessage, JsonWriter.write(((Map<?, ?>) JsonReader.parse(post(servers.ours(), "/v1/messages", anthropic).body().strip()))
                    .get("content")));
            assertTrue(theirMessage.contains("\"type\":\"thinking\""), theirMessage);
            anthropic.put("stream", true);
            assertEquals(anthropicBlocks(servers.theirs(), anthropic), anthropicBlocks(servers.ours(), anthropic), "streamed");
            // OpenAI's Responses API: the reasoning as a reasoning item, as llama-server gives it, whole and streamed.
            Map<String, Object> responses = new java.util.HashMap<>(Map.of("model", "templates", "max_output_tokens", 6, "temperature", 0,
                    "input", "What is the capital of France?"));
            assertEquals(responsesOutput(servers.theirs(), responses), responsesOutput(servers.ours(), responses));
            responses.put("stream", true);
            assertEquals(responsesOutput(servers.theirs(), responses), responsesOutput(servers.ours(), responses), "streamed");
            Map<String, Object> unknown = new java.util.HashMap<>(CONVERSATIONS.get("plain"));
            unknown.put("reasoning_format", "sideways");
            HttpResponse<String> refused = post(servers.ours(), "/v1/chat/completions", unknown);
            assertEquals(400, refused.statusCode(), refused.body());
            assertTrue(refused.body().contains("reasoning_format") && refused.body().contains("sideways"), refused.body());
        }
    }

    /**
     * A Responses reply's output items: each one's type and text (a reasoning item's reasoning text, a message's
     * output text), whole, or put together from a stream's deltas.
     */
    private static List<String> responsesOutput(String base, Map<String, Object> body) throws Exception {
        String reply = post(base, "/v1/responses", body).body().strip();
        List<String> items = new java.util.ArrayList<>();
        if (!Boolean.TRUE.equals(body.get("stream"))) {
            for (Object item : (List<?>) ((Map<?, ?>) JsonReader.parse(reply)).get("output")) {
                StringBuilder text = new StringBuilder(((Map<?, ?>) item).get("type") + ":");
                for (Object part : (List<?>) ((Map<?, ?>) item).get("content")) {
                    text.append(((Map<?, ?>) part).get("text"));
                }
                items.add(text.toString());
            }
            return items;
        }
        Map<String, StringBuilder> byItem = new LinkedHashMap<>();
        for (String line : reply.split("\n")) {
            if (!line.startsWith("data: {")) {
                continue;
            }
            Map<?, ?> event = (Map<?, ?>) JsonReader.parse(line.substring(6));
            if ("response.output_item.added".equals(event.get("type"))) {
                Map<?, ?> item = (Map<?, ?>) event.get("item");
                byItem.put((String) item.get("id"), new StringBuilder(item.get("type") + ":"));
            } else if (event.get("type") instanceof String type && type.endsWith("_text.delta")) {
                byItem.get((String) event.get("item_id")).append(event.get("delta"));
            }
        }
        byItem.values().forEach(text -> items.add(text.toString()));
        return items;
    }

    /** A streamed Anthropic message's blocks: each block's type and the text its deltas add, in the order they started. */
    private static List<String> anthropicBlocks(String base, Map<String, Object> body) throws Exception {
        Map<Long, StringBuilder> blocks = new java.util.TreeMap<>();
        for (String line : post(base, "/v1/messages", body).body().split("\n")) {
            if (!line.startsWith("data: {")) {
                continue;
            }
            Map<?, ?> event = (Map<?, ?>) JsonReader.parse(line.substring(6));
            if ("content_block_start".equals(event.get("type"))) {
                blocks.put(((Number) event.get("index")).longValue(), new StringBuilder(((Map<?, ?>) event.get("content_block")).get("type") + ":"));
            } else if ("content_block_delta".equals(event.get("type"))) {
                Map<?, ?> delta = (Map<?, ?>) event.get("delta");
                Object piece = delta.containsKey("thinking") ? delta.get("thinking") : delta.containsKey("text") ? delta.get("text") : "";
                blocks.get(((Number) event.get("index")).longValue()).append(piece);
            }
        }
        return blocks.values().stream().map(StringBuilder::toString).toList();
    }

    /** A chat reply's reasoning_content and content, whole or put together from its stream's deltas. */
    private static List<String> reasoningAndText(String base, Map<String, Object> body) throws Exception {
        HttpResponse<String> response = post(base, "/v1/chat/completions", body);
        assertEquals(200, response.statusCode(), base + ": " + response.body());
        StringBuilder reasoning = new StringBuilder();
        StringBuilder text = new StringBuilder();
        if (Boolean.TRUE.equals(body.get("stream"))) {
            for (String line : response.body().split("\n")) {
                if (line.startsWith("data: {")) {
                    List<?> choices = (List<?>) ((Map<?, ?>) JsonReader.parse(line.substring(6))).get("choices");
                    Map<?, ?> delta = choices == null || choices.isEmpty() ? Map.of() : (Map<?, ?>) ((Map<?, ?>) choices.getFirst()).get("delta");
                    reasoning.append(delta.get("reasoning_content") instanceof String piece ? piece : "");
                    text.append(delta.get("content") instanceof String piece ? piece : "");
                }
            }
        } else {
            Map<?, ?> message = (Map<?, ?>) ((Map<?, ?>) ((List<?>) ((Map<?, ?>) JsonReader.parse(response.body())).get("choices")).getFirst()).get("message");
            reasoning.append(message.get("reasoning_content") instanceof String all ? all : "");
            text.append(message.get("content") instanceof String all ? all : "");
        }
        return List.of(reasoning.toString(), text.toString());
    }

    private static final String TAKES_NO_TOOLS =
            "the template takes no tools: panllama describes them and writes calls in its own format (llama-server leaves them out)";
    private static final String TAKES_NO_CALLS =
            "the template lists tools but takes no calls: panllama writes its own tool instructions, whose calls it reads back";

    /**
     * Where panllama lays out a template's conversation otherwise than llama-server, on purpose or for what
     * llama-server does besides the template; every pair here is checked to differ still.
     */
    private static final Map<String, String> KNOWN_DIFFERENCES = Map.ofEntries(
            Map.entry("HuggingFaceTB-SmolLM3-3B.jinja tools", TAKES_NO_TOOLS),
            Map.entry("HuggingFaceTB-SmolLM3-3B.jinja call", TAKES_NO_TOOLS),
            Map.entry("microsoft-Phi-3.5-mini-instruct.jinja tools", TAKES_NO_TOOLS),
            Map.entry("microsoft-Phi-3.5-mini-instruct.jinja call", TAKES_NO_TOOLS),
            Map.entry("llama-cpp-rwkv-world.jinja tools", TAKES_NO_TOOLS),
            Map.entry("llama-cpp-rwkv-world.jinja call", TAKES_NO_TOOLS),
            Map.entry("google-gemma-2-2b-it.jinja tools", TAKES_NO_TOOLS),
            Map.entry("LFM2-8B-A1B.jinja tools", TAKES_NO_CALLS),
            Map.entry("LFM2-8B-A1B.jinja call", TAKES_NO_CALLS),
            Map.entry("LFM2.5-Instruct.jinja tools", TAKES_NO_CALLS),
            Map.entry("LFM2.5-Instruct.jinja call", TAKES_NO_CALLS),
            Map.entry("ibm-granite-granite-3.3-2B-Instruct.jinja tools", TAKES_NO_CALLS),
            Map.entry("ibm-granite-granite-3.3-2B-Instruct.jinja call", TAKES_NO_CALLS),
            Map.entry("deepseek-ai-DeepSeek-V4.jinja plain", "llama-server keeps an earlier turn's (empty) reasoning block: its own preserve-reasoning handling"),
            Map.entry("deepseek-ai-DeepSeek-V4-Flash-0731.jinja plain", "llama-server keeps an earlier turn's (empty) reasoning block: its own preserve-reasoning handling"),
            Map.entry("google-gemma-4-31B-it-interleaved.jinja call", "llama-server writes a tool's result into the model's turn: its own handling of this template"));
    /**
     * Every template of the pinned tree, given a plain exchange, tools, and a call with its result, with
     * {@code enable_thinking: true} (llama-server's own default) on both sides: the same prompt, or a refusal
     * by both, but for {@link #KNOWN_DIFFERENCES}.
     */
    @Test
    void everyTemplateOfThePinnedTreeLaysOutAsLlamaServerDoes() throws Exception {
        List<Path> templates;
        try (var files = Files.list(UserCache.user().source(NativePin.current()).resolve("models/templates"))) {
            templates = files.filter(path -> path.toString().endsWith(".jinja")).sorted().toList();
        }
        assertTrue(templates.size() >= 60, "the pinned tree's templates: " + templates.size());
        List<String> unexpected = new java.util.ArrayList<>();
        int same = 0;
        for (Path template : templates) {
            String name = template.getFileName().toString();
            try (BothServers servers = BothServers.serving(template, name + ".log")) {
                for (String conversation : List.of("plain", "tools", "call")) {
                    Map<String, Object> body = new java.util.HashMap<>(CONVERSATIONS.get(conversation));
                    body.put("chat_template_kwargs", Map.of("enable_thinking", true));
                    String expected = promptOrRefusal(servers.theirs(), body);
                    String actual = promptOrRefusal(servers.ours(), body);
                    String pair = name + " " + conversation;
                    if (expected.equals(actual)) {
                        same++;
                        if (KNOWN_DIFFERENCES.containsKey(pair)) {
                            unexpected.add(pair + ": listed as differing, but the same now");
                        }
                    } else if (!KNOWN_DIFFERENCES.containsKey(pair)) {
                        unexpected.add(pair + ":\n  llama-server: " + expected + "\n  panllama:     " + actual);
                    }
                }
            }
        }
        assertTrue(unexpected.isEmpty(), String.join("\n", unexpected));
        assertEquals(templates.size() * 3 - KNOWN_DIFFERENCES.size(), same);
    }

    /** The prompt a chat request renders to, or "refused" where the server answers with a client error. */
    private static String promptOrRefusal(String base, Map<String, Object> body) throws Exception {
        HttpResponse<String> response = post(base, "/apply-template", body);
        if (response.statusCode() >= 400 && response.statusCode() < 500) {
            return "refused";
        }
        assertEquals(200, response.statusCode(), base + ": " + response.body());
        return (String) ((Map<?, ?>) JsonReader.parse(response.body())).get("prompt");
    }

    /** The formats built in on both sides, for a model whose file has no template, lay out a plain exchange alike. */
    @ParameterizedTest
    @ValueSource(strings = {"llama4", "llama3", "chatml"})
    void theBuiltInFormatLaysOutAnExchangeAsLlamaServersDoes(String name) throws Exception {
        try (BothServers servers = BothServers.start(ChatFormat.builtIn(name), name + ".log", "--no-jinja", "--chat-template", name)) {
            Map<String, Object> body = CONVERSATIONS.get("plain");
            assertEquals(prompt(servers.theirs(), body), prompt(servers.ours(), body), name);
        }
    }

    /** llama-server and panllama's server, serving the test's model with the same chat template. */
    private record BothServers(LlamaServerProcess llamaServer, OpenAiServer panllama) implements AutoCloseable {

        /** Both serving the Jinja template in {@code template}. */
        static BothServers serving(Path template, String logName) throws Exception {
            return start(model.chatFormat(Files.readString(template)), logName, "--chat-template-file", template.toString());
        }

        /** panllama serving {@code format}, llama-server given {@code templateOptions} for the same. */
        static BothServers start(ChatFormat format, String logName, String... templateOptions) throws Exception {
            List<String> options = new java.util.ArrayList<>(List.of("-c", "512", "-t", "2", "-np", "1"));
            options.addAll(List.of(templateOptions));
            LlamaServerProcess llamaServer = LlamaServerProcess.start(file, temp.resolve(logName), options.toArray(String[]::new));
            try {
                return new BothServers(llamaServer, OpenAiServer.start(model, format, ServerOptions.defaults("templates").withPort(0).withParallel(1)));
            } catch (RuntimeException | Error e) {
                llamaServer.close();
                throw e;
            }
        }

        String theirs() {
            return llamaServer.url();
        }

        String ours() {
            return "http://127.0.0.1:" + panllama.port();
        }

        @Override
        public void close() throws InterruptedException {
            try (llamaServer) {
                panllama.close();
            }
        }
    }

    private static HttpResponse<String> post(String base, String path, Map<String, Object> body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofMinutes(1))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(JsonWriter.write(body))).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static String prompt(String base, Map<String, Object> body) throws Exception {
        String prompt = promptOrRefusal(base, body);
        assertNotEquals("refused", prompt, base + " refused the conversation");
        return prompt;
    }
}
