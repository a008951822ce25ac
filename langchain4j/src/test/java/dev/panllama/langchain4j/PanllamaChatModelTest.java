package dev.panllama.langchain4j;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.Capability;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.request.json.JsonRawSchema;
import dev.langchain4j.model.chat.request.json.JsonSchema;
import dev.langchain4j.model.chat.response.CompleteToolCall;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import dev.panllama.api.Chat;
import dev.panllama.api.ChatReply;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.NativePin;
import dev.panllama.chat.Message;
import dev.panllama.chat.ToolCall;
import dev.panllama.chat.ToolUse;
import dev.panllama.json.JsonReader;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.sampling.SamplingOptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The LangChain4j models driven through LangChain4j's own API, against the facade's answers. */
class PanllamaChatModelTest {

    static final GenerationOptions GREEDY = GenerationOptions.defaults().withSampling(SamplingOptions.greedy()).withMaxTokens(12);

    @TempDir
    static Path temp;
    static LlamaModel model;
    static String firstReply;
    static String secondReply;

    @BeforeAll
    static void openModel() throws IOException {
        Path file = temp.resolve("chat.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 3).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), file);
        model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(1024).withBatchSize(64));
        try (Chat chat = model.newChat("Be brief.")) {
            firstReply = chat.send("Hello there", GREEDY).text();
            secondReply = chat.send("And then?", GREEDY).text();
        }
    }

    @AfterAll
    static void closeModel() {
        model.close();
    }

    static ChatRequest.Builder greedy() {
        return ChatRequest.builder().temperature(0.0).maxOutputTokens(12);
    }

    @Test
    void aConversationThroughChatModelEqualsTheFacades() {
        try (PanllamaChatModel chat = new PanllamaChatModel(model, GenerationOptions.defaults())) {
            ChatResponse first = chat.chat(greedy().messages(SystemMessage.from("Be brief."), UserMessage.from("Hello there")).build());
            assertEquals(firstReply, first.aiMessage().text());
            assertEquals(12, first.tokenUsage().outputTokenCount());
            assertEquals(FinishReason.LENGTH, first.finishReason());
            ChatResponse second = chat.chat(greedy().messages(SystemMessage.from("Be brief."), UserMessage.from("Hello there"),
                    AiMessage.from(first.aiMessage().text()), UserMessage.from("And then?")).build());
            assertEquals(secondReply, second.aiMessage().text());
        }
    }

    @Test
    void theDefaultsLogitBiasesApplyToEveryRequest() {
        int hello = model.tokenizer().encode(" hello", false, false)[0];
        GenerationOptions favoured = GenerationOptions.defaults().withSampling(SamplingOptions.greedy().withLogitBias(Map.of(hello, 100f)));
        try (PanllamaChatModel chat = new PanllamaChatModel(model, favoured)) {
            ChatResponse reply = chat.chat(greedy().maxOutputTokens(3).messages(UserMessage.from("Hello there")).build());
            assertEquals("hello hello hello", reply.aiMessage().text().strip());
        }
    }

    @Test
    void theStreamingModelStreamsTheSameReplyAndCancels() throws Exception {
        try (PanllamaStreamingChatModel streaming = new PanllamaStreamingChatModel(model, GenerationOptions.defaults())) {
            StringBuilder partials = new StringBuilder();
            CompletableFuture<ChatResponse> done = new CompletableFuture<>();
            streaming.chat(greedy().messages(SystemMessage.from("Be brief."), UserMessage.from("Hello there")).build(),
                    handler(partials::append, done));
            assertEquals(firstReply, done.get(120, TimeUnit.SECONDS).aiMessage().text());
            assertEquals(firstReply, partials.toString());

            AtomicInteger heard = new AtomicInteger();
            CompletableFuture<ChatResponse> cancelled = new CompletableFuture<>();
            // Greedy, and the prompt whose reply is known to have text: with a random seed the model could
            // end its turn at once and stream nothing to cancel.
            assertFalse(firstReply.isEmpty(), "the greedy reply has text to stream");
            streaming.chat(greedy().messages(SystemMessage.from("Be brief."), UserMessage.from("Hello there")).maxOutputTokens(800).build(),
                    new StreamingChatResponseHandler() {
                        @Override
                        public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
                            heard.incrementAndGet();
                            context.streamingHandle().cancel();
                        }

                        @Override
                        public void onCompleteResponse(ChatResponse response) {
                            cancelled.complete(response);
                        }

                        @Override
                        public void onError(Throwable error) {
                            cancelled.completeExceptionally(error);
                        }
                    });
            // The next request has its turn once the cancelled one has stopped.
            CompletableFuture<ChatResponse> next = new CompletableFuture<>();
            streaming.chat(greedy().messages(UserMessage.from("Hi")).maxOutputTokens(2).build(), handler(piece -> { }, next));
            assertEquals(2, next.get(120, TimeUnit.SECONDS).tokenUsage().outputTokenCount());
            assertEquals(1, heard.get());
            assertFalse(cancelled.isDone(), "a cancelled reply hears nothing more");
        }
    }

    /** Requests made one after another are answered in that order; one made after closing hears an error. */
    @Test
    void streamedRepliesComeInCallOrderAndNoneAfterClosing() throws Exception {
        List<Integer> finished = new CopyOnWriteArrayList<>();
        List<CompletableFuture<ChatResponse>> replies = new ArrayList<>();
        PanllamaStreamingChatModel streaming = new PanllamaStreamingChatModel(model, GenerationOptions.defaults());
        try (streaming) {
            for (int i = 0; i < 8; i++) {
                int request = i;
                CompletableFuture<ChatResponse> done = new CompletableFuture<>();
                done.thenRun(() -> finished.add(request));
                replies.add(done);
                streaming.chat(greedy().messages(UserMessage.from("Hi " + i)).maxOutputTokens(2).build(), handler(piece -> { }, done));
            }
            for (CompletableFuture<ChatResponse> reply : replies) {
                reply.get(120, TimeUnit.SECONDS);
            }
            assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7), finished);
        }
        CompletableFuture<ChatResponse> afterClose = new CompletableFuture<>();
        streaming.chat(greedy().messages(UserMessage.from("Hi")).build(), handler(piece -> { }, afterClose));
        ExecutionException closed = assertThrows(ExecutionException.class, () -> afterClose.get(10, TimeUnit.SECONDS));
        assertTrue(closed.getCause().getMessage().contains("closed"), closed.getCause().toString());
    }

    @Test
    void whatTheFacadeCannotDoIsRefused() {
        try (PanllamaChatModel chat = new PanllamaChatModel(model, GenerationOptions.defaults())) {
            assertThrows(UnsupportedFeatureException.class, () -> chat.chat(ChatRequest.builder()
                    .messages(UserMessage.from(TextContent.from("What is this?"), ImageContent.from("http://127.0.0.1/x.png"))).build()));
            assertThrows(IllegalArgumentException.class,
                    () -> chat.chat(ChatRequest.builder().messages(UserMessage.from("Hi"), AiMessage.from("Hello")).build()));
            ToolSpecification patterned = ToolSpecification.builder().name("f").parameters(JsonObjectSchema.builder()
                    .addProperty("a", JsonRawSchema.from("{\"type\":\"string\",\"pattern\":\"x+\"}")).build()).build();
            IllegalArgumentException unsupported = assertThrows(IllegalArgumentException.class, () -> chat.chat(ChatRequest.builder()
                    .messages(UserMessage.from("Hi")).toolSpecifications(patterned).toolChoice(ToolChoice.REQUIRED).build()));
            assertTrue(unsupported.getMessage().contains("pattern"), unsupported.getMessage());
            assertEquals(2, chat.chat(greedy().messages(UserMessage.from("Hi")).maxOutputTokens(2).build()).tokenUsage().outputTokenCount());
        }
    }

    /** Tools of bounded arguments only (an enum, integers, a boolean), so that a random model's call always closes. */
    static final List<ToolSpecification> TOOLS = List.of(
            ToolSpecification.builder().name("get_weather").description("The weather where the user is")
                    .parameters(JsonObjectSchema.builder().addEnumProperty("unit", List.of("celsius", "fahrenheit"))
                            .addIntegerProperty("days").required("unit").build()).build(),
            ToolSpecification.builder().name("set_alarm").description("Rings after some minutes")
                    .parameters(JsonObjectSchema.builder().addIntegerProperty("minutes").addBooleanProperty("loud").required("minutes").build())
                    .build());

    @Test
    void aRequiredToolCallAndItsResultGoThroughLangChain4jAsThroughTheFacade() throws Exception {
        ChatRequest first = greedy().maxOutputTokens(200).messages(SystemMessage.from("Be brief."), UserMessage.from("Weather?"))
                .toolSpecifications(TOOLS).toolChoice(ToolChoice.REQUIRED).build();
        ToolUse tools = ChatRequests.tools(first.parameters());
        assertEquals(Map.of("type", "object", "properties", Map.of("minutes", Map.of("type", "integer"), "loud", Map.of("type", "boolean")),
                "required", List.of("minutes")), tools.tools().get(1).parameters(), "LangChain4j's schema as panllama reads it");
        ToolCall expectedCall;
        ChatReply expectedAnswer;
        try (Chat chat = model.newChat("Be brief.")) {
            chat.add(Message.user("Weather?"));
            expectedCall = chat.reply(tools, GREEDY.withMaxTokens(200), s -> { }).toolCalls().getFirst();
            chat.add(Message.tool(expectedCall.id(), "rain"));
            expectedAnswer = chat.reply(ToolUse.auto(tools.tools()), GREEDY, s -> { });
        }
        try (PanllamaChatModel chat = new PanllamaChatModel(model, GenerationOptions.defaults());
             PanllamaStreamingChatModel streaming = new PanllamaStreamingChatModel(model, GenerationOptions.defaults())) {
            ChatResponse call = chat.chat(first);
            assertEquals(FinishReason.TOOL_EXECUTION, call.finishReason());
            ToolExecutionRequest request = call.aiMessage().toolExecutionRequests().getFirst();
            assertEquals(expectedCall.name(), request.name());
            assertEquals(expectedCall.arguments(), request.arguments());

            ChatResponse answer = chat.chat(greedy().messages(SystemMessage.from("Be brief."), UserMessage.from("Weather?"),
                    call.aiMessage(), ToolExecutionResultMessage.from(request, "rain")).toolSpecifications(TOOLS).build());
            if (expectedAnswer.callsTools()) {
                assertEquals(expectedAnswer.toolCalls().getFirst().arguments(), answer.aiMessage().toolExecutionRequests().getFirst().arguments());
            } else {
                assertEquals(expectedAnswer.generation().text(), answer.aiMessage().text());
            }

            List<String> partials = new CopyOnWriteArrayList<>();
            List<CompleteToolCall> completeCalls = new CopyOnWriteArrayList<>();
            CompletableFuture<ChatResponse> done = new CompletableFuture<>();
            streaming.chat(first, handler(partials::add, completeCalls::add, done));
            ToolExecutionRequest streamed = done.get(120, TimeUnit.SECONDS).aiMessage().toolExecutionRequests().getFirst();
            assertEquals(expectedCall.arguments(), streamed.arguments());
            assertEquals(List.of(), partials, "a call is not streamed as text");
            assertEquals(streamed, completeCalls.getFirst().toolExecutionRequest());
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void aJsonSchemaResponseFormatGivesDocumentsOfThatSchema() {
        JsonSchema schema = JsonSchema.builder().name("Answer").rootElement(JsonObjectSchema.builder()
                .addEnumProperty("answer", List.of("yes", "no")).addIntegerProperty("confidence").addBooleanProperty("sure")
                .required("answer", "confidence", "sure").additionalProperties(false).build()).build();
        try (PanllamaChatModel chat = new PanllamaChatModel(model, GenerationOptions.defaults())) {
            assertTrue(chat.supportedCapabilities().contains(Capability.RESPONSE_FORMAT_JSON_SCHEMA));
            for (int seed = 0; seed < 6; seed++) {
                ChatResponse response = chat.chat(ChatRequest.builder().messages(UserMessage.from("Is it so?")).temperature(1.2)
                        .maxOutputTokens(200).responseFormat(ResponseFormat.builder().type(ResponseFormatType.JSON).jsonSchema(schema).build())
                        .build());
                Map<String, Object> document = (Map<String, Object>) JsonReader.parse(response.aiMessage().text());
                assertEquals(Set.of("answer", "confidence", "sure"), document.keySet(), response.aiMessage().text());
                assertTrue(List.of("yes", "no").contains(document.get("answer")));
                assertTrue(document.get("confidence") instanceof Double d && d == Math.rint(d));
                assertTrue(document.get("sure") instanceof Boolean);
            }
            String object = chat.chat(ChatRequest.builder().messages(UserMessage.from("{")).maxOutputTokens(40)
                    .responseFormat(ResponseFormat.JSON).build()).aiMessage().text();
            assertTrue(object.startsWith("{"), object);
        }
    }

    private static StreamingChatResponseHandler handler(java.util.function.Consumer<String> onPartial, CompletableFuture<ChatResponse> done) {
        return handler(onPartial, call -> done.completeExceptionally(new AssertionError("an unexpected tool call: " + call)), done);
    }

    private static StreamingChatResponseHandler handler(java.util.function.Consumer<String> onPartial,
                                                        java.util.function.Consumer<CompleteToolCall> onToolCall,
                                                        CompletableFuture<ChatResponse> done) {
        return handler(thinking -> done.completeExceptionally(new AssertionError("unexpected thinking: " + thinking)), onPartial,
                onToolCall, done);
    }

    /** A handler that hands on the thinking, the text and the tool calls streamed, and completes {@code done} as the reply ends. */
    static StreamingChatResponseHandler handler(java.util.function.Consumer<String> onThinking, java.util.function.Consumer<String> onPartial,
                                                java.util.function.Consumer<CompleteToolCall> onToolCall,
                                                CompletableFuture<ChatResponse> done) {
        return new StreamingChatResponseHandler() {
            @Override
            public void onPartialThinking(dev.langchain4j.model.chat.response.PartialThinking partial) {
                onThinking.accept(partial.text());
            }

            @Override
            public void onPartialResponse(String partial) {
                onPartial.accept(partial);
            }

            @Override
            public void onCompleteToolCall(CompleteToolCall completeToolCall) {
                onToolCall.accept(completeToolCall);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        };
    }
}
