package dev.panllama.server;

import com.anthropic.client.AnthropicClient;
import com.anthropic.client.okhttp.AnthropicOkHttpClient;
import com.anthropic.core.JsonValue;
import com.anthropic.core.http.StreamResponse;
import com.anthropic.errors.UnauthorizedException;
import com.anthropic.helpers.MessageAccumulator;
import com.anthropic.models.messages.ContentBlock;
import com.anthropic.models.messages.ContentBlockParam;
import com.anthropic.models.messages.Message;
import com.anthropic.models.messages.MessageCreateParams;
import com.anthropic.models.messages.RawMessageStreamEvent;
import com.anthropic.models.messages.StopReason;
import com.anthropic.models.messages.Tool;
import com.anthropic.models.messages.ToolChoiceAny;
import com.anthropic.models.messages.ToolResultBlockParam;
import com.anthropic.models.messages.ToolUseBlock;
import dev.langchain4j.model.anthropic.AnthropicChatModel;
import dev.langchain4j.model.anthropic.AnthropicStreamingChatModel;
import dev.panllama.api.ChatReply;
import dev.panllama.chat.ToolCall;
import dev.panllama.json.JsonReader;
import dev.panllama.json.JsonWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Anthropic's Messages API ({@code /v1/messages}) driven by Anthropic's Java SDK and LangChain4j's
 * Anthropic models: greedy text equals the facade's reply to the same conversation, whole and streamed
 * (the stream's events parse into the SDK's types and accumulate into the same message); a required call
 * is the facade's, and the call and its result sent back as blocks give the facade's next reply; the
 * key goes as {@code x-api-key}; what the server cannot do gets Anthropic's error JSON, its message naming
 * the field's path (leading with it, as Anthropic's do, where it would not name it otherwise).
 */
class AnthropicApiTest extends ClientComparison {

    static ToolCall expectedCall;
    static ChatReply expectedAnswer;

    @BeforeAll
    static void callAndAnswerThroughTheFacade() {
        ToolCallServingTest.FacadeExchange facade = ToolCallServingTest.FacadeExchange.of(model);
        expectedCall = facade.call();
        expectedAnswer = facade.answer();
    }

    static AnthropicClient client(OpenAiServer server, String key) {
        return AnthropicOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.port()).apiKey(key).maxRetries(0).build();
    }

    /** Greedy: Anthropic's SDK no longer sets a temperature, so it goes as a field of the body. */
    static MessageCreateParams.Builder greedy(int maxTokens) {
        return MessageCreateParams.builder().model(TestModel.ID).system(TestModel.SYSTEM).maxTokens(maxTokens)
                .putAdditionalBodyProperty("temperature", JsonValue.from(0.0));
    }

    static String text(Message message) {
        StringBuilder text = new StringBuilder();
        for (ContentBlock block : message.content()) {
            block.text().ifPresent(t -> text.append(t.text()));
        }
        return text.toString();
    }

    @Test
    void greedyTextEqualsTheFacadeWholeAndStreamed() throws Exception {
        try (OpenAiServer server = start(OpenAiJavaClientTest.KEY)) {
            AnthropicClient client = client(server, OpenAiJavaClientTest.KEY);
            MessageCreateParams request = greedy(TestModel.REPLY_TOKENS).addUserMessage(TestModel.USER).build();
            Message whole = client.messages().create(request).validate();
            assertEquals(expected, text(whole));
            long output = whole.usage().outputTokens();
            assertEquals(output == TestModel.REPLY_TOKENS ? StopReason.MAX_TOKENS : StopReason.END_TURN, whole.stopReason().orElseThrow());
            long input = whole.usage().inputTokens() + whole.usage().cacheReadInputTokens().orElse(0L);
            HttpResponse<String> counted = OpenAiServerTest.send(server, "POST", "/v1/messages/count_tokens", JsonWriter.write(Map.of(
                    "model", TestModel.ID, "system", TestModel.SYSTEM, "messages", List.of(Map.of("role", "user", "content", TestModel.USER)))),
                    OpenAiJavaClientTest.KEY);
            assertEquals(input, ((Number) ((Map<?, ?>) JsonReader.parse(counted.body())).get("input_tokens")).longValue(), counted.body());

            MessageAccumulator accumulated = MessageAccumulator.create();
            StringBuilder deltas = new StringBuilder();
            try (StreamResponse<RawMessageStreamEvent> stream = client.messages().createStreaming(request)) {
                stream.stream().forEach(event -> {
                    accumulated.accumulate(event.validate());
                    event.contentBlockDelta().ifPresent(delta -> delta.delta().text().ifPresent(text -> deltas.append(text.text())));
                });
            }
            Message streamed = accumulated.message();
            assertEquals(expected, deltas.toString());
            assertEquals(expected, text(streamed));
            assertEquals(whole.stopReason(), streamed.stopReason());
            assertEquals(output, streamed.usage().outputTokens());
            client.close();
        }
    }

    @Test
    void theStreamIsAnthropicsEventsInOrder() throws Exception {
        try (OpenAiServer server = start(null)) {
            HttpResponse<String> response = OpenAiServerTest.post(server, "/v1/messages", "{\"model\":\"" + TestModel.ID
                    + "\",\"max_tokens\":3,\"temperature\":0,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
            assertEquals(200, response.statusCode(), response.body());
            List<String> types = new ArrayList<>();
            for (String event : response.body().split("\n\n")) {
                String[] lines = event.split("\n");
                assertEquals(2, lines.length, event);
                String type = lines[0].substring("event: ".length());
                assertEquals(type, ((Map<?, ?>) JsonReader.parse(lines[1].substring("data: ".length()))).get("type"), event);
                types.add(type);
            }
            assertEquals(List.of("message_start", "content_block_start"), types.subList(0, 2));
            assertEquals(List.of("content_block_stop", "message_delta", "message_stop"), types.subList(types.size() - 3, types.size()));
            assertTrue(types.subList(2, types.size() - 3).stream().allMatch("content_block_delta"::equals), types.toString());
        }
    }

    static Tool tool(dev.panllama.chat.Tool tool) {
        Map<?, ?> schema = (Map<?, ?>) JsonReader.parse(tool.parametersSchema());
        Tool.InputSchema.Builder input = Tool.InputSchema.builder().properties(JsonValue.from(schema.get("properties")));
        ((List<?>) schema.get("required")).forEach(name -> input.addRequired((String) name));
        return Tool.builder().name(tool.name()).description(tool.description()).inputSchema(input.build()).build();
    }

    static void assertSameCall(ToolCall expected, ToolUseBlock use) {
        assertEquals(expected.name(), use.name());
        assertEquals(JsonReader.parse(expected.arguments()), JsonReader.parse(JsonWriter.write(use._input().convert(Object.class))));
    }

    @Test
    void aRequiredCallAndItsResultRoundTrip() throws Exception {
        try (OpenAiServer server = start(null)) {
            AnthropicClient client = client(server, "unused");
            MessageCreateParams.Builder call = greedy(ToolCallServingTest.CALL_TOKENS).addUserMessage(ToolCallServingTest.USER)
                    .toolChoice(ToolChoiceAny.builder().build());
            ToolCallServingTest.TOOLS.forEach(t -> call.addTool(tool(t)));
            Message whole = client.messages().create(call.build()).validate();
            assertEquals(StopReason.TOOL_USE, whole.stopReason().orElseThrow());
            assertEquals(1, whole.content().size(), whole.content().toString());
            ToolUseBlock use = whole.content().getFirst().asToolUse();
            assertSameCall(expectedCall, use);

            MessageAccumulator accumulated = MessageAccumulator.create();
            try (StreamResponse<RawMessageStreamEvent> stream = client.messages().createStreaming(call.build())) {
                stream.stream().forEach(accumulated::accumulate);
            }
            Message streamed = accumulated.message();
            assertEquals(StopReason.TOOL_USE, streamed.stopReason().orElseThrow());
            assertSameCall(expectedCall, streamed.content().getFirst().asToolUse());

            MessageCreateParams.Builder next = greedy(TestModel.REPLY_TOKENS).addUserMessage(ToolCallServingTest.USER)
                    .addMessage(whole.toParam())
                    .addUserMessageOfContentBlockParams(List.of(ContentBlockParam.ofToolResult(ToolResultBlockParam.builder()
                            .toolUseId(use.id()).content(ToolCallServingTest.RESULT).build())));
            ToolCallServingTest.TOOLS.forEach(t -> next.addTool(tool(t)));
            Message answer = client.messages().create(next.build());
            if (expectedAnswer.callsTools()) {
                assertSameCall(expectedAnswer.toolCalls().getFirst(), answer.content().getFirst().asToolUse());
            } else {
                assertEquals(expectedAnswer.generation().text(), text(answer));
            }
            client.close();
        }
    }

    @Test
    void langChain4jsAnthropicModelsGetTheFacadesTextAndCall() throws Exception {
        try (OpenAiServer server = start(null)) {
            String baseUrl = "http://127.0.0.1:" + server.port() + "/v1/";
            LangChain4jModels.assertFacadesTextAndCall(
                    AnthropicChatModel.builder().baseUrl(baseUrl).apiKey("unused").modelName(TestModel.ID).maxRetries(0).build(),
                    AnthropicStreamingChatModel.builder().baseUrl(baseUrl).apiKey("unused").modelName(TestModel.ID).build(),
                    expected, expectedCall);
        }
    }

    @Test
    void whatTheServerCannotDoIsAnthropicsErrorNamingIt() throws Exception {
        String user = "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]";
        Map<String, String> badBodies = Map.of(
                "{" + user + "}", "max_tokens",
                "{\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{}}]}]}", "messages[0].content[0].type",
                "{\"max_tokens\":5," + user + ",\"thinking\":{\"type\":\"sometimes\"}}", "thinking.type",
                "{\"max_tokens\":5," + user + ",\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}]}", "tools[0].type",
                "{\"max_tokens\":5,\"messages\":[{\"role\":\"system\",\"content\":\"Hi\"}]}", "messages[0].role",
                "{\"max_tokens\":5," + user + ",\"model\":\"claude-sonnet-4-5\"}", "model");
        try (OpenAiServer server = start(OpenAiJavaClientTest.KEY)) {
            for (Map.Entry<String, String> bad : badBodies.entrySet()) {
                HttpResponse<String> response = OpenAiServerTest.send(server, "POST", "/v1/messages", bad.getKey(), OpenAiJavaClientTest.KEY);
                assertTrue(response.statusCode() == 400 || response.statusCode() == 404, bad.getKey() + " -> " + response.body());
                Map<?, ?> body = (Map<?, ?>) JsonReader.parse(response.body());
                assertEquals("error", body.get("type"), response.body());
                Map<?, ?> error = (Map<?, ?>) body.get("error");
                assertEquals(response.statusCode() == 404 ? "not_found_error" : "invalid_request_error", error.get("type"), response.body());
                String message = (String) error.get("message");
                assertTrue(message.startsWith(bad.getValue() + ": ") || message.contains("'" + bad.getValue() + "'"), response.body());
            }
            assertThrows(UnauthorizedException.class,
                    () -> client(server, "wrong").messages().create(greedy(5).addUserMessage("Hi").build()));
            AnthropicClient right = client(server, OpenAiJavaClientTest.KEY);
            assertEquals(expected, text(right.messages().create(greedy(TestModel.REPLY_TOKENS).addUserMessage(TestModel.USER).build())),
                    "the server goes on serving");
            right.close();
        }
    }
}
