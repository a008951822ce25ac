package dev.panllama.server;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionTokenLogprob;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** OpenAI's own Java SDK, pointed at the server. */
class OpenAiJavaClientTest extends ClientComparison {

    static final String KEY = "sesame";
    static final int SLOW_REPLY_TOKENS = 600;

    static OpenAiServer start() {
        return start(KEY);
    }

    static OpenAIClient client(OpenAiServer server, String key) {
        return OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.port() + "/v1").apiKey(key).maxRetries(0).build();
    }

    static ChatCompletionCreateParams.Builder greedy() {
        return ChatCompletionCreateParams.builder().model(TestModel.ID).addSystemMessage(TestModel.SYSTEM).addUserMessage(TestModel.USER)
                .temperature(0.0).maxCompletionTokens(TestModel.REPLY_TOKENS);
    }

    @Test
    void greedyChatEqualsTheFacade() {
        try (OpenAiServer server = start()) {
            OpenAIClient client = client(server, KEY);
            ChatCompletion completion = client.chat().completions().create(greedy().build());
            assertEquals(expected, completion.choices().getFirst().message().content().orElseThrow());
            assertEquals(TestModel.ID, completion.model());
            assertTrue(completion.usage().orElseThrow().completionTokens() <= TestModel.REPLY_TOKENS);
            assertEquals(TestModel.ID, client.models().list().data().getFirst().id());
            client.close();
        }
    }

    @Test
    void streamedGreedyChatEqualsTheFacade() {
        try (OpenAiServer server = start()) {
            OpenAIClient client = client(server, KEY);
            StringBuilder text = new StringBuilder();
            long[] usage = {-1};
            try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
                    greedy().streamOptions(com.openai.models.chat.completions.ChatCompletionStreamOptions.builder().includeUsage(true).build())
                            .build())) {
                stream.stream().forEach(chunk -> {
                    chunk.choices().forEach(choice -> choice.delta().content().ifPresent(text::append));
                    chunk.usage().ifPresent(u -> usage[0] = u.completionTokens());
                });
            }
            assertEquals(expected, text.toString());
            assertTrue(usage[0] > 0, "usage in the last chunk");
            client.close();
        }
    }

    /** {@code n}: the SDK reads as many choices, whole and streamed, each by its index. */
    @Test
    void severalChoicesThroughTheSdk() {
        try (OpenAiServer server = start()) {
            OpenAIClient client = client(server, KEY);
            ChatCompletion completion = client.chat().completions().create(greedy().n(2).build());
            assertEquals(List.of(0L, 1L), completion.choices().stream().map(ChatCompletion.Choice::index).toList());
            for (ChatCompletion.Choice choice : completion.choices()) {
                assertTrue(!choice.message().content().orElseThrow().isEmpty(), completion.toString());
            }
            StringBuilder[] streamed = {new StringBuilder(), new StringBuilder()};
            try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(greedy().n(2).build())) {
                stream.stream().forEach(chunk -> chunk.choices().forEach(choice ->
                        choice.delta().content().ifPresent(streamed[(int) choice.index()]::append)));
            }
            assertTrue(!streamed[0].isEmpty() && !streamed[1].isEmpty(), streamed[0] + " / " + streamed[1]);
            client.close();
        }
    }

    /**
     * A whole reply not ready within the server's probe interval comes after newlines, which JSON allows
     * before its value. 600 tokens take about 2 s on 2 cores, far past two probe intervals (200 tokens
     * took 0.8 s there, which a machine a few times faster would have answered before the first newline).
     */
    @Test
    void aSlowWholeReplyParsesAndEqualsTheStreamedOne() {
        try (OpenAiServer server = start()) {
            OpenAIClient client = client(server, KEY);
            CompletionCreateParams request = CompletionCreateParams.builder().model(TestModel.ID).prompt("Once upon a time")
                    .maxTokens(SLOW_REPLY_TOKENS).temperature(0.0).build();
            long start = System.nanoTime();
            Completion whole = client.completions().create(request);
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertTrue(took.compareTo(GenerationRun.PROBE.multipliedBy(2)) > 0,
                    "the reply came in " + took + ", before any newline was sent");
            StringBuilder streamed = new StringBuilder();
            try (StreamResponse<Completion> stream = client.completions().createStreaming(request)) {
                stream.stream().forEach(chunk -> chunk.choices().forEach(choice -> streamed.append(choice.text())));
            }
            assertEquals(streamed.toString(), whole.choices().getFirst().text());
            assertEquals(SLOW_REPLY_TOKENS, whole.usage().orElseThrow().completionTokens());
            client.close();
        }
    }

    @Test
    void textCompletionsAndErrors() {
        try (OpenAiServer server = start()) {
            OpenAIClient client = client(server, KEY);
            Completion completion = client.completions().create(CompletionCreateParams.builder().model(TestModel.ID)
                    .prompt("Once upon a time").maxTokens(5).temperature(0.0).build());
            assertEquals(5, completion.usage().orElseThrow().completionTokens());

            UnauthorizedException unauthorized = assertThrows(UnauthorizedException.class,
                    () -> client(server, "wrong").chat().completions().create(greedy().build()));
            assertEquals("invalid_api_key", unauthorized.code().orElseThrow());
            NotFoundException notFound = assertThrows(NotFoundException.class,
                    () -> client.chat().completions().create(greedy().model("gpt-4o").build()));
            assertEquals("model_not_found", notFound.code().orElseThrow());
            assertEquals("model", notFound.param().orElseThrow());
            BadRequestException tooLong = assertThrows(BadRequestException.class,
                    () -> client.chat().completions().create(greedy().addUserMessage("word ".repeat(TestModel.CONTEXT)).build()));
            assertEquals("context_length_exceeded", tooLong.code().orElseThrow());
            assertEquals("invalid_request_error", tooLong.type().orElseThrow());
            BadRequestException badField = assertThrows(BadRequestException.class,
                    () -> client.chat().completions().create(greedy().temperature(5.0).build()));
            assertEquals("temperature", badField.param().orElseThrow());
            client.close();
        }
    }

    /** {@code logprobs}, whole and streamed, read through the SDK's own types, which check their fields. */
    @Test
    void logprobsParseIntoTheSdksTypes() {
        try (OpenAiServer server = start()) {
            OpenAIClient client = client(server, KEY);
            ChatCompletion completion = client.chat().completions().create(greedy().logprobs(true).topLogprobs(3L).build()).validate();
            List<ChatCompletionTokenLogprob> content = completion.choices().getFirst().logprobs().orElseThrow().content().orElseThrow();
            assertEquals(completion.usage().orElseThrow().completionTokens(), content.size());
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            for (ChatCompletionTokenLogprob token : content) {
                assertEquals(3, token.topLogprobs().size(), token.toString());
                assertEquals(token.token(), token.topLogprobs().getFirst().token(), "greedy picks the most likely: " + token);
                token.bytes().orElseThrow().forEach(b -> bytes.write(b.intValue()));
            }
            assertEquals(expected, bytes.toString(StandardCharsets.UTF_8));

            List<ChatCompletionTokenLogprob> streamed = new ArrayList<>();
            try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
                    greedy().logprobs(true).topLogprobs(3L).build())) {
                stream.stream().forEach(chunk -> chunk.validate().choices().forEach(choice ->
                        choice.logprobs().flatMap(ChatCompletionChunk.Choice.Logprobs::content).ifPresent(streamed::addAll)));
            }
            assertEquals(content, streamed);

            Completion text = client.completions().create(CompletionCreateParams.builder().model(TestModel.ID)
                    .prompt("Once upon a time").maxTokens(5).temperature(0.0).logprobs(2L).build()).validate();
            CompletionChoice.Logprobs logprobs = text.choices().getFirst().logprobs().orElseThrow();
            assertEquals(5, logprobs.tokens().orElseThrow().size());
            assertEquals(5, logprobs.tokenLogprobs().orElseThrow().size());
            assertEquals(5, logprobs.topLogprobs().orElseThrow().size());
            assertEquals("Once upon a time".length(), logprobs.textOffset().orElseThrow().getFirst());
            client.close();
        }
    }
}
