package dev.panllama.server;

import com.openai.client.OpenAIClient;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.openai.core.JsonValue;
import com.openai.core.ObjectMappers;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.responses.EasyInputMessage;
import com.openai.models.responses.FunctionTool;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseFormatTextJsonSchemaConfig;
import com.openai.models.responses.ResponseFunctionToolCall;
import com.openai.models.responses.ResponseIncludable;
import com.openai.models.responses.ResponseInputItem;
import com.openai.models.responses.ResponseOutputItem;
import com.openai.models.responses.ResponseOutputText;
import com.openai.models.responses.ResponseStatus;
import com.openai.models.responses.ResponseStreamEvent;
import com.openai.models.responses.ResponseTextConfig;
import com.openai.models.responses.ToolChoiceOptions;
import dev.langchain4j.model.openai.OpenAiResponsesChatModel;
import dev.langchain4j.model.openai.OpenAiResponsesStreamingChatModel;
import dev.panllama.api.ChatReply;
import dev.panllama.chat.Tool;
import dev.panllama.chat.ToolCall;
import dev.panllama.json.JsonReader;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * OpenAI's Responses API ({@code /v1/responses}) driven by OpenAI's Java SDK and LangChain4j's Responses
 * models: greedy text equals the facade's reply to the same conversation, whole and streamed (the
 * stream's events parse into the SDK's types, in order, numbered from 0); a required call equals the
 * facade's, and the call and its result sent back as input items give the facade's next reply; a JSON
 * schema format constrains the reply; log probabilities come with the text; what the API asks and the
 * server cannot do gets a 400 naming the field.
 */
class ResponsesApiTest extends ClientComparison {

    static ToolCall expectedCall;
    static ChatReply expectedAnswer;

    @BeforeAll
    static void callAndAnswerThroughTheFacade() {
        ToolCallServingTest.FacadeExchange facade = ToolCallServingTest.FacadeExchange.of(model);
        expectedCall = facade.call();
        expectedAnswer = facade.answer();
    }

    static ResponseCreateParams.Builder greedy() {
        return ResponseCreateParams.builder().model(TestModel.ID).instructions(TestModel.SYSTEM).input(TestModel.USER).temperature(0.0)
                .maxOutputTokens(TestModel.REPLY_TOKENS);
    }

    static String text(Response response) {
        StringBuilder text = new StringBuilder();
        for (ResponseOutputItem item : response.output()) {
            item.message().ifPresent(message -> message.content().forEach(content -> text.append(content.asOutputText().text())));
        }
        return text.toString();
    }

    @Test
    void greedyTextEqualsTheFacadeWholeAndStreamed() {
        try (OpenAiServer server = start(null)) {
            OpenAIClient client = OpenAiJavaClientTest.client(server, "unused");
            Response whole = client.responses().create(greedy().build()).validate();
            assertEquals(expected, text(whole));
            assertEquals(TestModel.ID, whole.model().asString());
            long outputTokens = whole.usage().orElseThrow().outputTokens();
            assertTrue(outputTokens > 0 && outputTokens <= TestModel.REPLY_TOKENS, "output tokens " + outputTokens);
            // At its token limit a response is incomplete, as OpenAI's; else it ended its turn.
            boolean cut = outputTokens == TestModel.REPLY_TOKENS;
            assertEquals(cut ? ResponseStatus.INCOMPLETE : ResponseStatus.COMPLETED, whole.status().orElseThrow());
            assertEquals(cut, whole.incompleteDetails().isPresent());
            assertEquals(whole.usage().orElseThrow().inputTokens(), inputTokens(server));

            StringBuilder streamed = new StringBuilder();
            List<String> types = new ArrayList<>();
            Response[] last = new Response[1];
            try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(greedy().build())) {
                stream.stream().forEach(event -> {
                    event.validate();
                    types.add(type(event));
                    event.outputTextDelta().ifPresent(delta -> streamed.append(delta.delta()));
                    event.completed().ifPresent(done -> last[0] = done.response());
                    event.incomplete().ifPresent(done -> last[0] = done.response());
                });
            }
            assertEquals(expected, streamed.toString());
            assertEquals(expected, text(last[0]));
            assertEquals(List.of("response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"),
                    types.subList(0, 4));
            assertEquals(List.of("response.output_text.done", "response.content_part.done", "response.output_item.done",
                    cut ? "response.incomplete" : "response.completed"), types.subList(types.size() - 4, types.size()));
            assertTrue(types.subList(4, types.size() - 4).stream().allMatch("response.output_text.delta"::equals), types.toString());
            client.close();
        }
    }

    private static long inputTokens(OpenAiServer server) {
        try {
            HttpResponse<String> counted = OpenAiServerTest.post(server, "/v1/responses/input_tokens",
                    "{\"instructions\":\"" + TestModel.SYSTEM + "\",\"input\":\"" + TestModel.USER + "\"}");
            assertEquals(200, counted.statusCode(), counted.body());
            Map<?, ?> body = (Map<?, ?>) JsonReader.parse(counted.body());
            assertEquals("response.input_tokens", body.get("object"));
            return ((Number) body.get("input_tokens")).longValue();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** An event's type, as the SDK writes the event it read back to JSON. */
    private static String type(ResponseStreamEvent event) {
        try {
            return (String) ((Map<?, ?>) JsonReader.parse(ObjectMappers.jsonMapper().writeValueAsString(event))).get("type");
        } catch (JsonProcessingException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void streamedEventsAreNumberedInOrder() throws Exception {
        try (OpenAiServer server = start(null)) {
            HttpResponse<String> response = OpenAiServerTest.post(server, "/v1/responses",
                    "{\"input\":\"Hi\",\"max_output_tokens\":3,\"temperature\":0,\"stream\":true}");
            assertEquals(200, response.statusCode());
            assertEquals("text/event-stream", response.headers().firstValue("content-type").orElseThrow());
            String[] events = response.body().split("\n\n");
            for (int i = 0; i < events.length; i++) {
                String[] lines = events[i].split("\n");
                assertEquals(2, lines.length, events[i]);
                assertTrue(lines[0].startsWith("event: ") && lines[1].startsWith("data: "), events[i]);
                Map<?, ?> data = (Map<?, ?>) JsonReader.parse(lines[1].substring("data: ".length()));
                assertEquals(lines[0].substring("event: ".length()), data.get("type"));
                assertEquals(i, ((Number) data.get("sequence_number")).intValue(), events[i]);
            }
            assertFalse(response.body().contains("[DONE]"), "a Responses stream ends with its last event");
        }
    }

    static FunctionTool functionTool(Tool tool) {
        FunctionTool.Parameters.Builder parameters = FunctionTool.Parameters.builder();
        ((Map<?, ?>) JsonReader.parse(tool.parametersSchema())).forEach((k, v) -> parameters.putAdditionalProperty((String) k, JsonValue.from(v)));
        return FunctionTool.builder().name(tool.name()).description(tool.description()).parameters(parameters.build()).strict(false).build();
    }

    static ResponseCreateParams.Builder toolRequest(int maxTokens) {
        ResponseCreateParams.Builder request = ResponseCreateParams.builder().model(TestModel.ID).instructions(TestModel.SYSTEM)
                .temperature(0.0).maxOutputTokens(maxTokens);
        ToolCallServingTest.TOOLS.forEach(tool -> request.addTool(functionTool(tool)));
        return request;
    }

    @Test
    void aRequiredCallAndItsResultRoundTrip() {
        try (OpenAiServer server = start(null)) {
            OpenAIClient client = OpenAiJavaClientTest.client(server, "unused");
            ResponseCreateParams call = toolRequest(ToolCallServingTest.CALL_TOKENS).input(ToolCallServingTest.USER)
                    .toolChoice(ToolChoiceOptions.REQUIRED).build();
            Response whole = client.responses().create(call).validate();
            assertEquals(1, whole.output().size(), whole.output().toString());
            ResponseFunctionToolCall made = whole.output().getFirst().asFunctionCall();
            ToolCallServingTest.assertSameCall(expectedCall, made.name(), made.arguments());
            assertTrue(made.callId().startsWith("call_"), made.callId());
            assertEquals(ResponseStatus.COMPLETED, whole.status().orElseThrow());

            List<ResponseFunctionToolCall> streamedCalls = new ArrayList<>();
            StringBuilder streamedText = new StringBuilder();
            try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(call)) {
                stream.stream().forEach(event -> {
                    event.validate();
                    event.outputTextDelta().ifPresent(delta -> streamedText.append(delta.delta()));
                    event.outputItemDone().ifPresent(done -> done.item().functionCall().ifPresent(streamedCalls::add));
                });
            }
            assertEquals("", streamedText.toString(), "a call streams no text");
            assertEquals(1, streamedCalls.size());
            ToolCallServingTest.assertSameCall(expectedCall, streamedCalls.getFirst().name(), streamedCalls.getFirst().arguments());

            List<ResponseInputItem> conversation = List.of(
                    ResponseInputItem.ofEasyInputMessage(EasyInputMessage.builder().role(EasyInputMessage.Role.USER)
                            .content(ToolCallServingTest.USER).build()),
                    ResponseInputItem.ofFunctionCall(made),
                    ResponseInputItem.ofFunctionCallOutput(ResponseInputItem.FunctionCallOutput.builder().callId(made.callId())
                            .output(ToolCallServingTest.RESULT).build()));
            Response next = client.responses().create(toolRequest(TestModel.REPLY_TOKENS).inputOfResponse(conversation).build()).validate();
            if (expectedAnswer.callsTools()) {
                ResponseFunctionToolCall again = next.output().getFirst().asFunctionCall();
                ToolCallServingTest.assertSameCall(expectedAnswer.toolCalls().getFirst(), again.name(), again.arguments());
            } else {
                assertEquals(expectedAnswer.generation().text(), text(next));
            }
            client.close();
        }
    }

    @Test
    void aJsonSchemaFormatConstrainsTheReply() {
        try (OpenAiServer server = start(null)) {
            OpenAIClient client = OpenAiJavaClientTest.client(server, "unused");
            ResponseFormatTextJsonSchemaConfig.Schema.Builder schema = ResponseFormatTextJsonSchemaConfig.Schema.builder();
            ((Map<?, ?>) JsonReader.parse(ToolCallServingTest.ALARM))
                    .forEach((k, v) -> schema.putAdditionalProperty((String) k, JsonValue.from(v)));
            for (long seed = 1; seed <= 3; seed++) {
                Response response = client.responses().create(ResponseCreateParams.builder().model(TestModel.ID).input("Set an alarm")
                        .temperature(1.0).maxOutputTokens(200).putAdditionalBodyProperty("seed", JsonValue.from(seed))
                        .text(ResponseTextConfig.builder().format(ResponseFormatTextJsonSchemaConfig.builder().name("alarm")
                                .schema(schema.build()).build()).build()).build());
                Map<?, ?> alarm = (Map<?, ?>) JsonReader.parse(text(response));
                assertTrue(alarm.get("minutes") instanceof Number, text(response));
            }
            client.close();
        }
    }

    @Test
    void logprobsComeWithTheText() {
        try (OpenAiServer server = start(null)) {
            OpenAIClient client = OpenAiJavaClientTest.client(server, "unused");
            ResponseCreateParams request = greedy().addInclude(ResponseIncludable.MESSAGE_OUTPUT_TEXT_LOGPROBS).topLogprobs(2L).build();
            Response whole = client.responses().create(request).validate();
            List<ResponseOutputText.Logprob> logprobs = whole.output().getFirst().asMessage().content().getFirst().asOutputText()
                    .logprobs().orElseThrow();
            assertEquals(whole.usage().orElseThrow().outputTokens(), logprobs.size());
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            for (ResponseOutputText.Logprob token : logprobs) {
                assertEquals(2, token.topLogprobs().size(), token.toString());
                token.bytes().forEach(b -> bytes.write(b.intValue()));
            }
            assertEquals(expected, bytes.toString(StandardCharsets.UTF_8));

            List<ResponseOutputText.Logprob> streamed = new ArrayList<>();
            try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(request)) {
                stream.stream().forEach(event -> event.outputTextDelta().ifPresent(delta -> delta.logprobs().forEach(logprob ->
                        streamed.add(ResponseOutputText.Logprob.builder().token(logprob.token()).logprob(logprob.logprob())
                                .bytes(List.of()).topLogprobs(List.of()).build()))));
            }
            assertEquals(logprobs.stream().map(ResponseOutputText.Logprob::token).toList(),
                    streamed.stream().map(ResponseOutputText.Logprob::token).toList());
            client.close();
        }
    }

    @Test
    void langChain4jsResponsesModelsGetTheFacadesTextAndCall() throws Exception {
        try (OpenAiServer server = start(null)) {
            String baseUrl = "http://127.0.0.1:" + server.port() + "/v1";
            LangChain4jModels.assertFacadesTextAndCall(
                    OpenAiResponsesChatModel.builder().baseUrl(baseUrl).apiKey("unused").modelName(TestModel.ID).build(),
                    OpenAiResponsesStreamingChatModel.builder().baseUrl(baseUrl).apiKey("unused").modelName(TestModel.ID).build(),
                    expected, expectedCall);
        }
    }

    @Test
    void whatTheServerCannotDoIsA400NamingTheField() throws Exception {
        Map<String, String> badBodies = Map.of(
                "{\"input\":\"Hi\",\"previous_response_id\":\"resp_1\"}", "previous_response_id",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "messages",
                "{\"input\":\"Hi\",\"tools\":[{\"type\":\"web_search\"}]}", "tools[0].type",
                "{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"x\"}]}]}", "input[0].content[0].type",
                "{\"input\":[{\"type\":\"item_reference\",\"id\":\"msg_1\"}]}", "input[0].type",
                "{\"input\":[{\"role\":\"tool\",\"content\":\"3\"}]}", "input[0].role",
                "{\"input\":\"Hi\",\"text\":{\"format\":{\"type\":\"yaml\"}}}", "text.format.type",
                "{\"input\":\"Hi\",\"truncation\":\"auto\"}", "truncation",
                "{\"instructions\":\"Be brief.\"}", "input");
        try (OpenAiServer server = start(OpenAiJavaClientTest.KEY)) {
            for (Map.Entry<String, String> bad : badBodies.entrySet()) {
                HttpResponse<String> response = OpenAiServerTest.send(server, "POST", "/v1/responses", bad.getKey(), OpenAiJavaClientTest.KEY);
                assertEquals(400, response.statusCode(), bad.getKey() + " -> " + response.body());
                assertEquals(bad.getValue(), OpenAiServerTest.error(response).get("param"), response.body());
            }
            OpenAIClient client = OpenAiJavaClientTest.client(server, "wrong");
            assertThrows(UnauthorizedException.class, () -> client.responses().create(greedy().build()));
            OpenAIClient right = OpenAiJavaClientTest.client(server, OpenAiJavaClientTest.KEY);
            BadRequestException tooLong = assertThrows(BadRequestException.class,
                    () -> right.responses().create(greedy().input("word ".repeat(TestModel.CONTEXT)).build()));
            assertEquals("context_length_exceeded", tooLong.code().orElseThrow());
            assertEquals(expected, text(right.responses().create(greedy().build())), "the server goes on serving");
            client.close();
            right.close();
        }
    }
}
