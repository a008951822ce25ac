package dev.panllama.server;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionAssistantMessageParam;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import com.openai.models.chat.completions.ChatCompletionToolMessageParam;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import dev.panllama.api.Chat;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.ChatReply;
import dev.panllama.api.GenerationOptions;
import dev.panllama.chat.Message;
import dev.panllama.chat.Tool;
import dev.panllama.chat.ToolCall;
import dev.panllama.chat.ToolUse;
import dev.panllama.json.JsonReader;
import dev.panllama.json.JsonWriter;
import dev.panllama.sampling.SamplingOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tool calls served to OpenAI's Java SDK and LangChain4j's OpenAI module: a required call comes back as
 * the clients' tool-call types, whole and streamed, and equals the facade's greedy call for the same
 * conversation; the call and the tool's result go back in the next request, whose greedy reply equals
 * the facade's; bad tool fields get OpenAI's 400s.
 */
class ToolCallServingTest extends ServedModel {

    /** Parameters of bounded values only (an enum, integers, a boolean), so that a random model's call always closes. */
    static final String WEATHER = """
            {"type":"object","properties":{"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer"}},"required":["unit"]}""";
    static final String ALARM = """
            {"type":"object","properties":{"minutes":{"type":"integer"},"loud":{"type":"boolean"}},"required":["minutes"]}""";
    static final List<Tool> TOOLS = List.of(new Tool("get_weather", "The weather where the user is", WEATHER),
            new Tool("set_alarm", "Rings after some minutes", ALARM));
    static final String USER = "Weather for the next days?";
    static final String RESULT = "{\"sky\":\"rain\"}";
    static final int CALL_TOKENS = 200;

    static ToolCall expectedCall;
    /** The facade's greedy reply after the call and its result: text, or another call. */
    static ChatReply expectedAnswer;

    @BeforeAll
    static void callAndAnswerThroughTheFacade() {
        FacadeExchange facade = FacadeExchange.of(model);
        expectedCall = facade.call();
        expectedAnswer = facade.answer();
    }

    /**
     * Through the facade, greedily: the call {@link #USER} gets under {@link #TOOLS} when one is required,
     * and the reply after it once the call has its {@link #RESULT} (text, or another call).
     */
    record FacadeExchange(ToolCall call, ChatReply answer) {

        static FacadeExchange of(LlamaModel model) {
            GenerationOptions greedy = GenerationOptions.defaults().withSampling(SamplingOptions.greedy());
            try (Chat chat = model.newChat(TestModel.SYSTEM)) {
                chat.add(Message.user(USER));
                ToolCall call = chat.reply(ToolUse.required(TOOLS), greedy.withMaxTokens(CALL_TOKENS), s -> { }).toolCalls().getFirst();
                chat.add(Message.tool(call.id(), RESULT));
                return new FacadeExchange(call, chat.reply(ToolUse.auto(TOOLS), greedy.withMaxTokens(TestModel.REPLY_TOKENS), s -> { }));
            }
        }
    }

    static OpenAiServer start() {
        return OpenAiServer.start(model, ServerOptions.defaults(TestModel.ID).withPort(0));
    }

    static OpenAIClient client(OpenAiServer server) {
        return OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.port() + "/v1").apiKey("unused").maxRetries(0).build();
    }

    @SuppressWarnings("unchecked")
    static FunctionDefinition definition(Tool tool) {
        FunctionParameters.Builder parameters = FunctionParameters.builder();
        ((Map<String, Object>) JsonReader.parse(tool.parametersSchema())).forEach((k, v) -> parameters.putAdditionalProperty(k, JsonValue.from(v)));
        return FunctionDefinition.builder().name(tool.name()).description(tool.description()).parameters(parameters.build()).build();
    }

    static ChatCompletionCreateParams.Builder request(ChatCompletionToolChoiceOption.Auto choice, int maxTokens) {
        ChatCompletionCreateParams.Builder request = ChatCompletionCreateParams.builder().model(TestModel.ID)
                .addSystemMessage(TestModel.SYSTEM).addUserMessage(USER).temperature(0.0).maxCompletionTokens(maxTokens).toolChoice(choice);
        TOOLS.forEach(tool -> request.addFunctionTool(definition(tool)));
        return request;
    }

    static void assertSameCall(ToolCall expected, String name, String arguments) {
        assertEquals(expected.name(), name);
        assertEquals(JsonReader.parse(expected.arguments()), JsonReader.parse(arguments));
    }

    @Test
    void theOpenAiSdkGetsTheFacadesCallWholeAndStreamed() {
        try (OpenAiServer server = start()) {
            OpenAIClient client = client(server);
            ChatCompletion whole = client.chat().completions().create(request(ChatCompletionToolChoiceOption.Auto.REQUIRED, CALL_TOKENS).build());
            ChatCompletion.Choice choice = whole.choices().getFirst();
            assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, choice.finishReason());
            assertTrue(choice.message().content().isEmpty(), "a call has no text");
            ChatCompletionMessageFunctionToolCall call = choice.message().toolCalls().orElseThrow().getFirst().asFunction();
            assertSameCall(expectedCall, call.function().name(), call.function().arguments());
            assertTrue(call.id().startsWith("call_"), call.id());
            whole.validate();

            ChatCompletionAccumulator accumulated = ChatCompletionAccumulator.create();
            StringBuilder content = new StringBuilder();
            try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions()
                    .createStreaming(request(ChatCompletionToolChoiceOption.Auto.REQUIRED, CALL_TOKENS).build())) {
                stream.stream().forEach(chunk -> {
                    accumulated.accumulate(chunk);
                    chunk.choices().forEach(c -> c.delta().content().ifPresent(content::append));
                });
            }
            assertEquals("", content.toString(), "a call streams no text");
            ChatCompletion.Choice streamed = accumulated.chatCompletion().choices().getFirst();
            assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, streamed.finishReason());
            ChatCompletionMessageFunctionToolCall streamedCall = streamed.message().toolCalls().orElseThrow().getFirst().asFunction();
            assertSameCall(expectedCall, streamedCall.function().name(), streamedCall.function().arguments());
            client.close();
        }
    }

    @Test
    void theCallAndItsResultGoBackAndTheNextReplyEqualsTheFacades() {
        try (OpenAiServer server = start()) {
            OpenAIClient client = client(server);
            ChatCompletionCreateParams next = request(ChatCompletionToolChoiceOption.Auto.AUTO, TestModel.REPLY_TOKENS)
                    .addMessage(ChatCompletionAssistantMessageParam.builder().addToolCall(ChatCompletionMessageFunctionToolCall.builder()
                            .id(expectedCall.id()).function(ChatCompletionMessageFunctionToolCall.Function.builder()
                                    .name(expectedCall.name()).arguments(expectedCall.arguments()).build()).build()).build())
                    .addMessage(ChatCompletionToolMessageParam.builder().toolCallId(expectedCall.id()).content(RESULT).build())
                    .build();
            ChatCompletion.Choice choice = client.chat().completions().create(next).choices().getFirst();
            if (expectedAnswer.callsTools()) {
                ChatCompletionMessageFunctionToolCall call = choice.message().toolCalls().orElseThrow().getFirst().asFunction();
                assertSameCall(expectedAnswer.toolCalls().getFirst(), call.function().name(), call.function().arguments());
            } else {
                assertEquals(expectedAnswer.generation().text(), choice.message().content().orElseThrow());
                assertTrue(choice.message().toolCalls().orElse(List.of()).isEmpty());
            }
            client.close();
        }
    }

    static ToolSpecification specification(Tool tool) {
        JsonObjectSchema.Builder parameters = JsonObjectSchema.builder();
        if (tool.name().equals("get_weather")) {
            parameters.addEnumProperty("unit", List.of("celsius", "fahrenheit")).addIntegerProperty("days").required("unit");
        } else {
            parameters.addIntegerProperty("minutes").addBooleanProperty("loud").required("minutes");
        }
        return ToolSpecification.builder().name(tool.name()).description(tool.description()).parameters(parameters.build()).build();
    }

    @Test
    void langChain4jGetsTheFacadesCallAsAToolExecutionRequest() throws Exception {
        ChatRequest request = ChatRequest.builder().messages(SystemMessage.from(TestModel.SYSTEM), UserMessage.from(USER))
                .toolSpecifications(TOOLS.stream().map(ToolCallServingTest::specification).toList()).toolChoice(ToolChoice.REQUIRED)
                .temperature(0.0).maxOutputTokens(CALL_TOKENS).build();
        String baseUrl;
        try (OpenAiServer server = start()) {
            baseUrl = "http://127.0.0.1:" + server.port() + "/v1";
            ChatResponse whole = OpenAiChatModel.builder().baseUrl(baseUrl).apiKey("unused").modelName(TestModel.ID).maxRetries(0).build()
                    .chat(request);
            assertEquals(FinishReason.TOOL_EXECUTION, whole.finishReason());
            ToolExecutionRequest call = whole.aiMessage().toolExecutionRequests().getFirst();
            assertSameCall(expectedCall, call.name(), call.arguments());

            StreamedReply reply = StreamedReply.withoutText();
            OpenAiStreamingChatModel.builder().baseUrl(baseUrl).apiKey("unused").modelName(TestModel.ID).build().chat(request, reply);
            ToolExecutionRequest streamed = reply.response().aiMessage().toolExecutionRequests().getFirst();
            assertSameCall(expectedCall, streamed.name(), streamed.arguments());
        }
    }

    @Test
    void badToolFieldsGetOpenAisErrorsAndTheServerGoesOn() throws Exception {
        String tools = JsonWriter.write(List.of(Map.of("type", "function", "function",
                Map.of("name", "f", "parameters", JsonReader.parse(ALARM)))));
        String user = "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]";
        Map<String, String> badBodies = Map.of(
                "{" + user + ",\"tool_choice\":\"required\"}", "tool_choice",
                "{" + user + ",\"tools\":" + tools + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}}}", "tool_choice",
                "{" + user + ",\"tools\":" + tools + ",\"tool_choice\":\"sometimes\"}", "tool_choice",
                "{" + user + ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
                        + "\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"x\"}}}}}],\"tool_choice\":\"required\"}", "tools",
                "{" + user + ",\"tools\":" + tools + ",\"tool_choice\":\"required\",\"response_format\":{\"type\":\"json_object\"}}", "tool_choice",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"tool\",\"content\":\"3\"}]}", "messages[1].tool_call_id",
                "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":"
                        + "{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}", "messages[0].tool_calls[0].function.arguments",
                "{" + user + ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"two words\"}}]}", "tools[0].function");
        try (OpenAiServer server = start()) {
            for (Map.Entry<String, String> bad : badBodies.entrySet()) {
                HttpResponse<String> response = OpenAiServerTest.post(server, "/v1/chat/completions", bad.getKey());
                assertEquals(400, response.statusCode(), bad.getKey() + " -> " + response.body());
                assertEquals(bad.getValue(), OpenAiServerTest.error(response).get("param"), response.body());
            }
            String fine = "{" + user + ",\"tools\":" + tools + ",\"max_tokens\":2,\"parallel_tool_calls\":false}";
            HttpResponse<String> response = OpenAiServerTest.post(server, "/v1/chat/completions", fine);
            assertEquals(200, response.statusCode(), response.body());
            assertFalse(response.body().isEmpty());
        }
    }
}
