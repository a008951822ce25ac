package dev.panllama.langchain4j;

import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import dev.panllama.api.Chat;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.NativePin;
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
            ToolSpecification weather = ToolSpecification.builder().name("weather").description("The weather in a city").build();
            assertThrows(UnsupportedFeatureException.class,
                    () -> chat.chat(ChatRequest.builder().messages(UserMessage.from("Rain?")).toolSpecifications(weather).build()));
            assertThrows(UnsupportedFeatureException.class,
                    () -> chat.chat(ChatRequest.builder().messages(UserMessage.from("JSON please")).responseFormat(ResponseFormat.JSON).build()));
            assertThrows(IllegalArgumentException.class,
                    () -> chat.chat(ChatRequest.builder().messages(UserMessage.from("Hi"), AiMessage.from("Hello")).build()));
            assertEquals(2, chat.chat(greedy().messages(UserMessage.from("Hi")).maxOutputTokens(2).build()).tokenUsage().outputTokenCount());
        }
    }

    private static StreamingChatResponseHandler handler(java.util.function.Consumer<String> onPartial, CompletableFuture<ChatResponse> done) {
        return new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
                onPartial.accept(partial);
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
