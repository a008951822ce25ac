package dev.panllama.parity;

import dev.panllama.api.Chat;
import dev.panllama.api.ChatReply;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.chat.ChatFormat;
import dev.panllama.chat.Message;
import dev.panllama.chat.ToolUse;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufArray;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufValue;
import dev.panllama.json.JsonReader;
import dev.panllama.json.JsonWriter;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.sampling.ReasoningBudget;
import dev.panllama.sampling.SamplingOptions;
import dev.panllama.server.ChatReasoning;
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
                    Map.of("role", "tool", "tool_call_id", "call_1", "content", "Sunny, 21 °C"))),
            // An earlier reply's reasoning given back (reasoning_content), in a past turn and in a round of tool calls.
            "reasoned", Map.of("messages", List.of(Map.of("role", "system", "content", "You answer in one line."),
                    Map.of("role", "user", "content", "What is the capital of France?"),
                    Map.of("role", "assistant", "content", "Paris.", "reasoning_content", "France's capital is Paris."),
                    Map.of("role", "user", "content", "And of Italy?"))),
            "reasoned-call", Map.of("tools", List.of(TOOL), "messages", List.of(Map.of("role", "system", "content", "Be kind."),
                    Map.of("role", "user", "content", "Weather in Paris?"),
                    Map.of("role", "assistant", "content", "", "reasoning_content", "I should ask the weather tool.",
                            "tool_calls", List.of(Map.of("id", "call_1", "type", "function",
                            "function", Map.of("name", "get_weather", "arguments", "{\"city\": \"Paris\", \"days\": 2}")))),
                    Map.of("role", "tool", "tool_call_id", "call_1", "content", "Sunny, 21 °C"))));

    @TempDir
    static Path temp;
    static Path file;
    static LlamaModel model;

    @BeforeAll
    static void writeModel() throws Exception {
        file = temp.resolve("templates.gguf");
        Path vocabulary = UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 6).withTiedOutput(true), vocabulary, file,
                withReasoningTokens(vocabulary));
        model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(512));
    }

    /**
     * Llama 3's vocabulary as DeepSeek's R1 distillation of it has it: four reserved tokens become its turn tokens
     * and its reasoning tags, so that a reasoning block opens and closes with one token each, as the reasoning
     * budget's tests need (split into pieces, {@code <think>} merges with what comes before it).
     */
    private static Map<String, GgufValue> withReasoningTokens(Path vocabulary) throws Exception {
        try (GgufFile vocab = GgufFile.open(vocabulary)) {
            String[] tokens = vocab.metadata().getArray("tokenizer.ggml.tokens").strings();
            GgufArray types = vocab.metadata().getArray("tokenizer.ggml.token_type");
            long[] typeIds = types.integers();
            Map<Integer, String> renamed = Map.of(128011, "<｜User｜>", 128012, "<｜Assistant｜>", 128013, "<think>", 128014, "</think>");
            renamed.forEach((id, text) -> {
                assertTrue(tokens[id].startsWith("<|reserved_special_token_"), tokens[id]);
                tokens[id] = text;
                typeIds[id] = text.contains("think") ? USER_DEFINED_TOKEN : typeIds[id];
            });
            return Map.of("tokenizer.ggml.tokens", GgufValue.of(GgufArray.ofStrings(tokens)),
                    "tokenizer.ggml.token_type", GgufValue.of(GgufArray.ofInts(types.elementType(), typeIds)));
        }
    }

    /** llama.cpp's token type of a token written as text that is always read as one token. */
    private static final int USER_DEFINED_TOKEN = 4;

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
            // Ollama's think: the same reasoning apart, as message.thinking (no grammar there: the reply stays inside the block,
            // for a question whose greedy reply reasons).
            String question = reasoningQuestion(servers.ours());
            List<Map<String, String>> asked = List.of(Map.of("role", "user", "content", question));
            Map<String, Object> openAi = new java.util.HashMap<>(Map.of("messages", asked, "temperature", 0, "max_tokens", 6));
            List<String> expected = reasoningAndText(servers.ours(), openAi);
            for (boolean stream : List.of(false, true)) {
                Map<String, Object> ollama = new java.util.HashMap<>(Map.of("messages", asked));
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
                    "messages", asked));
            String theirMessage = JsonWriter.write(((Map<?, ?>) JsonReader.parse(post(servers.theirs(), "/v1/messages", anthropic).body())).get("content"));
            assertEquals(theirMessage, JsonWriter.write(((Map<?, ?>) JsonReader.parse(post(servers.ours(), "/v1/messages", anthropic).body().strip()))
                    .get("content")));
            assertTrue(theirMessage.contains("\"type\":\"thinking\""), theirMessage);
            anthropic.put("stream", true);
            assertEquals(anthropicBlocks(servers.theirs(), anthropic), anthropicBlocks(servers.ours(), anthropic), "streamed");
            // OpenAI's Responses API: the reasoning as a reasoning item, as llama-server gives it, whole and streamed.
            Map<String, Object> responses = new java.util.HashMap<>(Map.of("model", "templates", "max_output_tokens", 6, "temperature", 0,
                    "input", question));
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

    /**
     * A reasoning budget ends the block where llama-server's does: after the budget's tokens (counted from the
     * newline R1's template writes after {@code <think>}), {@code </think>} forced, with the budget's message
     * before it; asked for by the request ({@code reasoning_budget_tokens}, {@code thinking_budget_tokens},
     * Anthropic's {@code thinking.budget_tokens}) or by the server ({@code --reasoning-budget}), whole and streamed.
     */
    @Test
    void aReasoningBudgetEndsTheBlockAsInLlamaServer() throws Exception {
        Path template = UserCache.user().source(NativePin.current()).resolve("models/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja");
        try (BothServers servers = BothServers.serving(template, "budget.log")) {
            for (Map<String, Object> budget : List.<Map<String, Object>>of(Map.of("reasoning_budget_tokens", 3),
                    Map.of("thinking_budget_tokens", 5, "reasoning_budget_message", " Enough."), Map.of("reasoning_budget_tokens", 1),
                    Map.of("reasoning_budget_tokens", 0), Map.of("reasoning_budget_tokens", -1))) {
                Map<String, Object> body = new java.util.HashMap<>(CONVERSATIONS.get("plain"));
                body.putAll(Map.of("temperature", 0, "max_tokens", 14));
                body.putAll(budget);
                List<String> expected = reasoningAndText(servers.theirs(), body);
                assertEquals(expected, reasoningAndText(servers.ours(), body), budget.toString());
                body.put("stream", true);
                assertEquals(expected, reasoningAndText(servers.ours(), body), "streamed, " + budget);
                if (budget.containsKey("reasoning_budget_message")) {
                    assertTrue(expected.getFirst().endsWith(" Enough."), "the block was ended by force: " + expected);
                    // The Java facade's chat, given the same budget, fills in the template's opening of the reply itself.
                    try (Chat chat = model.newChat(null, model.chatFormat(Files.readString(template)))) {
                        chat.load(List.of(Message.system("You answer in one line."), Message.user("What is the capital of France?"),
                                Message.assistant("Paris."), Message.user("And of Italy?")));
                        ChatReply reply = chat.reply(ToolUse.NONE, GenerationOptions.defaults().withSampling(SamplingOptions.greedy())
                                .withMaxTokens(14).withReasoningBudget(ReasoningBudget.ofThinking(5, " Enough.")), thought -> { }, text -> { }, () -> false);
                        assertEquals(expected, List.of(reply.reasoning(), reply.text()), "the Java facade's chat");
                    }
                }
            }
            Map<String, Object> anthropic = new java.util.HashMap<>(Map.of("model", "templates", "max_tokens", 14, "temperature", 0,
                    "thinking", Map.of("type", "enabled", "budget_tokens", 2),
                    "messages", List.of(Map.of("role", "user", "content", "What is the capital of France?"))));
            String theirs = JsonWriter.write(((Map<?, ?>) JsonReader.parse(post(servers.theirs(), "/v1/messages", anthropic).body())).get("content"));
            assertEquals(theirs, JsonWriter.write(((Map<?, ?>) JsonReader.parse(post(servers.ours(), "/v1/messages", anthropic).body().strip()))
                    .get("content")), "Anthropic's budget_tokens");
            assertTrue(theirs.contains("\"type\":\"text\""), theirs);
        }
        try (BothServers servers = BothServers.start(model.chatFormat(Files.readString(template)),
                ServerOptions.defaults("templates").withReasoning(new ChatReasoning(true, 2, "")), "budget-server.log",
                "--chat-template-file", template.toString(), "--reasoning-budget", "2")) {
            Map<String, Object> body = new java.util.HashMap<>(CONVERSATIONS.get("plain"));
            body.putAll(Map.of("temperature", 0, "max_tokens", 10));
            assertEquals(reasoningAndText(servers.theirs(), body), reasoningAndText(servers.ours(), body), "--reasoning-budget 2");
        }
    }

    /** A question whose greedy reply, in six tokens, reasons in more than white space: the first of a few that does. */
    private static String reasoningQuestion(String base) throws Exception {
        for (String question : List.of("What is the capital of France?", "Why is the sky blue?", "Tell me a story.", "Count to ten.",
                "What is two plus two?", "Name a color.")) {
            Map<String, Object> body = Map.of("messages", List.of(Map.of("role", "user", "content", question)), "temperature", 0, "max_tokens", 6);
            if (!reasoningAndText(base, body).getFirst().isBlank()) {
                return question;
            }
        }
        throw new AssertionError("no question's reply reasons: the test's model has changed");
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

    /**
     * An earlier reply's reasoning reaches the template from each API as it does in llama-server: Anthropic's
     * thinking block, a Responses reasoning item, Ollama's {@code thinking}, counted in the prompt's tokens
     * (Qwen 3's template keeps the reasoning of a round of tool calls); and OpenAI's {@code reasoning_effort}
     * (gpt-oss's template writes it; {@code none} turns Qwen 3's thinking off).
     */
    @Test
    void anEarlierRepliesReasoningAndTheReasoningEffortReachTheTemplateAsInLlamaServer() throws Exception {
        Path templates = UserCache.user().source(NativePin.current()).resolve("models/templates");
        try (BothServers servers = BothServers.serving(templates.resolve("Qwen-Qwen3-0.6B.jinja"), "reasoning-back.log")) {
            String thought = "I should ask the weather tool.";
            Map<String, Object> call = Map.of("type", "tool_use", "id", "call_1", "name", "get_weather", "input", Map.of("city", "Paris"));
            Map<String, Object> anthropic = Map.of("model", "templates", "messages", List.of(
                    Map.of("role", "user", "content", "Weather in Paris?"),
                    Map.of("role", "assistant", "content", List.of(Map.of("type", "thinking", "thinking", thought, "signature", ""), call)),
                    Map.of("role", "user", "content", List.of(Map.of("type", "tool_result", "tool_use_id", "call_1", "content", "Sunny")))),
                    "tools", List.of(Map.of("name", "get_weather", "input_schema", Map.of("type", "object",
                            "properties", Map.of("city", Map.of("type", "string"))))));
            long withThought = count(servers.theirs(), "/v1/messages/count_tokens", anthropic, "input_tokens");
            assertEquals(withThought, count(servers.ours(), "/v1/messages/count_tokens", anthropic, "input_tokens"), "Anthropic's thinking block");
            Map<String, Object> unthought = new java.util.HashMap<>(anthropic);
            unthought.put("messages", List.of(anthropic.get("messages") instanceof List<?> list ? list.get(0) : null,
                    Map.of("role", "assistant", "content", List.of(call)), ((List<?>) anthropic.get("messages")).get(2)));
            assertTrue(count(servers.ours(), "/v1/messages/count_tokens", unthought, "input_tokens") < withThought, "the reasoning is in the prompt");

            Map<String, Object> responses = Map.of("model", "templates", "input", List.of(
                    Map.of("role", "user", "content", "Weather in Paris?"),
                    Map.of("type", "reasoning", "summary", List.of(), "content", List.of(Map.of("type", "reasoning_text", "text", thought))),
                    Map.of("type", "function_call", "call_id", "call_1", "name", "get_weather", "arguments", "{\"city\":\"Paris\"}"),
                    Map.of("type", "function_call_output", "call_id", "call_1", "output", "Sunny")),
                    "tools", List.of(Map.of("type", "function", "name", "get_weather", "parameters", Map.of("type", "object",
                            "properties", Map.of("city", Map.of("type", "string"))))));
            long responsesCount = count(servers.theirs(), "/v1/responses/input_tokens", responses, "input_tokens");
            assertEquals(responsesCount, count(servers.ours(), "/v1/responses/input_tokens", responses, "input_tokens"), "a reasoning item");

            // Ollama's thinking, as the OpenAI body's reasoning_content is counted.
            Map<String, Object> openAi = Map.of("messages", List.of(Map.of("role", "user", "content", "Weather in Paris?"),
                    Map.of("role", "assistant", "content", "", "reasoning_content", thought, "tool_calls", List.of(Map.of("id", "call_0",
                            "type", "function", "function", Map.of("name", "get_weather", "arguments", "{\"city\":\"Paris\"}")))),
                    Map.of("role", "tool", "tool_call_id", "call_0", "content", "Sunny")));
            Map<String, Object> ollama = Map.of("model", "templates", "stream", false, "options", Map.of("num_predict", 1), "messages", List.of(
                    Map.of("role", "user", "content", "Weather in Paris?"),
                    Map.of("role", "assistant", "content", "", "thinking", thought, "tool_calls", List.of(Map.of("function",
                            Map.of("name", "get_weather", "arguments", Map.of("city", "Paris"))))),
                    Map.of("role", "tool", "tool_name", "get_weather", "content", "Sunny")));
            assertEquals(count(servers.theirs(), "/v1/chat/completions/input_tokens", openAi, "input_tokens"),
                    count(servers.ours(), "/api/chat", ollama, "prompt_eval_count"), "Ollama's thinking");

            Map<String, Object> effortless = new java.util.HashMap<>(CONVERSATIONS.get("plain"));
            effortless.put("reasoning_effort", "none");
            assertEquals(prompt(servers.theirs(), effortless), prompt(servers.ours(), effortless), "reasoning_effort none");
            assertTrue(prompt(servers.ours(), effortless).endsWith("<think>\n\n</think>\n\n"), prompt(servers.ours(), effortless));
        }
        try (BothServers servers = BothServers.serving(templates.resolve("openai-gpt-oss-120b.jinja"), "effort.log")) {
            Map<String, Object> body = new java.util.HashMap<>(CONVERSATIONS.get("plain"));
            body.put("reasoning_effort", "high");
            assertEquals(prompt(servers.theirs(), body), prompt(servers.ours(), body), "reasoning_effort high");
            assertTrue(prompt(servers.ours(), body).contains("Reasoning: high"), prompt(servers.ours(), body));
            Map<String, Object> responses = Map.of("model", "templates", "input", "Hi", "reasoning", Map.of("effort", "low"));
            assertEquals(count(servers.theirs(), "/v1/responses/input_tokens", responses, "input_tokens"),
                    count(servers.ours(), "/v1/responses/input_tokens", responses, "input_tokens"), "the Responses API's reasoning.effort");
        }
    }

    /** The number {@code field} holds in the reply to {@code body} at {@code path}. */
    private static long count(String base, String path, Map<String, Object> body, String field) throws Exception {
        HttpResponse<String> response = post(base, path, body);
        assertEquals(200, response.statusCode(), base + path + ": " + response.body());
        return ((Number) ((Map<?, ?>) JsonReader.parse(response.body().strip())).get(field)).longValue();
    }

    private static final List<String> EVERY_CONVERSATION = List.of("plain", "tools", "call", "reasoned", "reasoned-call");

    private static final String TAKES_NO_TOOLS =
            "the template takes no tools: panllama describes them and writes calls in its own format (llama-server leaves them out)";
    private static final String GEMMA_4_RESULTS = "llama-server writes a tool's result into the model's turn: its own handling of this template";
    private static final String TAKES_NO_CALLS =
            "the template lists tools but takes no calls: panllama writes its own tool instructions, whose calls it reads back";

    /**
     * Where panllama lays out a template's conversation otherwise than llama-server, on purpose or for what
     * llama-server does besides the template; every pair here is checked to differ still.
     */
    private static final Map<String, String> KNOWN_DIFFERENCES = Map.ofEntries(
            Map.entry("HuggingFaceTB-SmolLM3-3B.jinja tools", TAKES_NO_TOOLS),
            Map.entry("HuggingFaceTB-SmolLM3-3B.jinja call", TAKES_NO_TOOLS),
            Map.entry("HuggingFaceTB-SmolLM3-3B.jinja reasoned-call", TAKES_NO_TOOLS),
            Map.entry("microsoft-Phi-3.5-mini-instruct.jinja tools", TAKES_NO_TOOLS),
            Map.entry("microsoft-Phi-3.5-mini-instruct.jinja call", TAKES_NO_TOOLS),
            Map.entry("microsoft-Phi-3.5-mini-instruct.jinja reasoned-call", TAKES_NO_TOOLS),
            Map.entry("llama-cpp-rwkv-world.jinja tools", TAKES_NO_TOOLS),
            Map.entry("llama-cpp-rwkv-world.jinja call", TAKES_NO_TOOLS),
            Map.entry("llama-cpp-rwkv-world.jinja reasoned-call", TAKES_NO_TOOLS),
            Map.entry("google-gemma-2-2b-it.jinja tools", TAKES_NO_TOOLS),
            Map.entry("LFM2-8B-A1B.jinja tools", TAKES_NO_CALLS),
            Map.entry("LFM2-8B-A1B.jinja call", TAKES_NO_CALLS),
            Map.entry("LFM2-8B-A1B.jinja reasoned-call", TAKES_NO_CALLS),
            Map.entry("LFM2.5-Instruct.jinja tools", TAKES_NO_CALLS),
            Map.entry("LFM2.5-Instruct.jinja call", TAKES_NO_CALLS),
            Map.entry("LFM2.5-Instruct.jinja reasoned-call", TAKES_NO_CALLS),
            Map.entry("ibm-granite-granite-3.3-2B-Instruct.jinja tools", TAKES_NO_CALLS),
            Map.entry("ibm-granite-granite-3.3-2B-Instruct.jinja call", TAKES_NO_CALLS),
            Map.entry("ibm-granite-granite-3.3-2B-Instruct.jinja reasoned-call", TAKES_NO_CALLS),
            Map.entry("google-gemma-4-31B-it-interleaved.jinja call", GEMMA_4_RESULTS),
            Map.entry("google-gemma-4-31B-it-interleaved.jinja reasoned-call", GEMMA_4_RESULTS));
    /**
     * Every template of the pinned tree, given a plain exchange, tools, and a call with its result, and the
     * exchange and the call with an earlier reply's reasoning given back, as each server thinks by default
     * (llama-server asks a template that can think to) and with {@code enable_thinking: false}: the same
     * prompts, or a refusal by both, but for {@link #KNOWN_DIFFERENCES}.
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
                for (String conversation : EVERY_CONVERSATION) {
                    Map<String, Object> body = new java.util.HashMap<>(CONVERSATIONS.get(conversation));
                    String expected = promptOrRefusal(servers.theirs(), body);
                    String actual = promptOrRefusal(servers.ours(), body);
                    body.put("chat_template_kwargs", Map.of("enable_thinking", false));
                    expected += "\n(thinking off) " + promptOrRefusal(servers.theirs(), body);
                    actual += "\n(thinking off) " + promptOrRefusal(servers.ours(), body);
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
        assertEquals(templates.size() * EVERY_CONVERSATION.size() - KNOWN_DIFFERENCES.size(), same);
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
            return start(format, ServerOptions.defaults("templates"), logName, templateOptions);
        }

        /** panllama serving {@code format} with {@code ours}, llama-server given {@code theirs} for the same. */
        static BothServers start(ChatFormat format, ServerOptions ours, String logName, String... theirs) throws Exception {
            List<String> options = new java.util.ArrayList<>(List.of("-c", "512", "-t", "2", "-np", "1"));
            options.addAll(List.of(theirs));
            LlamaServerProcess llamaServer = LlamaServerProcess.start(file, temp.resolve(logName), options.toArray(String[]::new));
            try {
                return new BothServers(llamaServer, OpenAiServer.start(model, format, ours.withPort(0).withParallel(1)));
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
