package dev.panllama.api;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.chat.ChatFormat;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.NativeResources;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.sampling.SamplingOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Java facade on a random-weight Llama 4 model: chats, completions, streaming, limits, lifetimes. */
class ChatTest {

    @TempDir
    static Path temp;
    static Path modelFile;

    static final ModelOptions OPTIONS = ModelOptions.defaults().withThreads(2).withContextLength(512).withBatchSize(64);
    static final GenerationOptions GREEDY = GenerationOptions.defaults().withSampling(SamplingOptions.greedy()).withMaxTokens(12);

    @BeforeAll
    static void writeModel() throws IOException {
        modelFile = temp.resolve("chat.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 3).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), modelFile);
    }

    @Test
    void greedyRepliesAreReproducibleAndStreamsAgree() {
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS)) {
            Generation first;
            StringBuilder streamed = new StringBuilder();
            try (Chat chat = model.newChat("Be brief.")) {
                first = chat.send("Hello there", GREEDY, streamed::append);
            }
            assertEquals(first.text(), streamed.toString());
            assertEquals(Generation.StopReason.MAX_TOKENS, first.stopReason());
            assertEquals(12, first.generatedIds().length);
            try (Chat chat = model.newChat("Be brief.")) {
                assertEquals(first.text(), chat.send("Hello there", GREEDY).text());
            }
            try (Chat chat = model.newChat("Be brief."); Stream<String> pieces = chat.stream("Hello there", GREEDY)) {
                assertEquals(first.text(), pieces.collect(Collectors.joining()));
            }
            try (Chat chat = model.newChat("Be brief.")) {
                assertEquals(first.text(), collect(chat.publish("Hello there", GREEDY)));
            }
        }
    }

    /**
     * Under a template that writes reasoning blocks (DeepSeek R1's distillation, which opens one in the prompt), a
     * reply asked for with its reasoning apart streams and returns the reasoning apart from its text, and the
     * conversation keeps it apart; asked for as one text, it is all text, as generated. A grammar forces the reply,
     * so that a random model closes the block.
     */
    @Test
    void aReplysReasoningComesApartWhenAskedFor() throws IOException {
        String template = java.nio.file.Files.readString(UserCache.user().source(NativePin.current())
                .resolve("models/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja"));
        GenerationOptions forced = GREEDY.withMaxTokens(40).withGrammar("root ::= \"I ponder.\" \" \" \"</think>\" \"\\n\\nRome it is.\"");
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS); Chat chat = model.newChat(null, model.chatFormat(template))) {
            chat.add(dev.panllama.chat.Message.user("Capital of Italy?"));
            StringBuilder reasoning = new StringBuilder();
            StringBuilder text = new StringBuilder();
            ChatReply reply = chat.reply(dev.panllama.chat.ToolUse.NONE, forced, reasoning::append, text::append, () -> false);
            assertEquals("\nI ponder. ", reply.reasoning(), "the prompt's newline after <think> and all before </think>");
            assertEquals("\n\nRome it is.", reply.text());
            assertEquals(List.of(reply.reasoning(), reply.text()), List.of(reasoning.toString(), text.toString()), "streamed alike");
            assertEquals("I ponder. </think>\n\nRome it is.", reply.generation().text(), "the generation as generated");
            assertEquals(dev.panllama.chat.Message.assistant(reply.text()).withReasoning(reply.reasoning()), chat.messages().getLast());

            chat.reset();
            chat.add(dev.panllama.chat.Message.user("Capital of Italy?"));
            StringBuilder whole = new StringBuilder();
            ChatReply oneText = chat.reply(dev.panllama.chat.ToolUse.NONE, forced, whole::append);
            assertEquals("", oneText.reasoning());
            assertEquals(List.of(reply.generation().text(), reply.generation().text()), List.of(oneText.text(), whole.toString()));
            assertEquals(dev.panllama.chat.Message.assistant(oneText.text()), chat.messages().getLast());
        }
    }

    @Test
    void sameSeedSameOutputDifferentSeedDifferentOutput() {
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS); Completion completion = model.newCompletion()) {
            GenerationOptions seeded = GenerationOptions.defaults().withMaxTokens(16)
                    .withSampling(SamplingOptions.defaults(42).withTemperature(1.5f));
            int[] a = completion.complete("Once upon a time", seeded, s -> { }).generatedIds();
            int[] b = completion.complete("Once upon a time", seeded, s -> { }).generatedIds();
            int[] c = completion.complete("Once upon a time", seeded.withSampling(seeded.sampling().withSeed(7)), s -> { }).generatedIds();
            assertArrayEquals(a, b);
            assertFalse(java.util.Arrays.equals(a, c));
        }
    }

    @Test
    void laterTurnsReuseTheCachedConversation() {
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS); Chat chat = model.newChat("You are a test.")) {
            Generation first = chat.send("First question", GREEDY);
            Generation second = chat.send("Second question", GREEDY);
            assertEquals(first.promptIds().length, first.promptTokens(), "the first turn evaluates its whole prompt");
            assertTrue(second.promptTokens() < second.promptIds().length / 2,
                    "the second turn evaluates " + second.promptTokens() + " of " + second.promptIds().length + " tokens");
            assertEquals(5, chat.messages().size());

            // The same conversation from scratch gives the same second reply.
            try (Chat fresh = model.newChat("You are a test.")) {
                fresh.load(chat.messages().subList(0, 3));
                assertEquals(second.text(), fresh.send("Second question", GREEDY).text());
            }
        }
    }

    @Test
    void stopStringsEndTheReplyBeforeThem() {
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS); Completion completion = model.newCompletion()) {
            Generation full = completion.complete("The list:", GREEDY.withMaxTokens(24), s -> { });
            String text = full.text();
            assertTrue(text.length() > 6, text);
            String stop = text.substring(text.length() / 2, text.length() / 2 + 3);
            StringBuilder streamed = new StringBuilder();
            Generation stopped = completion.complete("The list:", GREEDY.withMaxTokens(24).withStopStrings(List.of(stop)), streamed::append);
            assertEquals(Generation.StopReason.STOP_STRING, stopped.stopReason());
            assertEquals(text.substring(0, text.indexOf(stop)), stopped.text());
            assertEquals(stopped.text(), streamed.toString(), "no part of the stop string was streamed");
        }
    }

    @Test
    void cancellingStopsTheReply() {
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS); Chat chat = model.newChat(null)) {
            List<String> pieces = new ArrayList<>();
            Generation generation = chat.send("Talk", GREEDY.withMaxTokens(200), piece -> {
                pieces.add(piece);
                if (pieces.size() == 3) {
                    chat.cancel();
                }
            });
            assertEquals(Generation.StopReason.CANCELLED, generation.stopReason());
            assertTrue(generation.generatedIds().length < 10);
        }
    }

    @Test
    void closedModelAndChatRefuseUseAndFreeEverything() {
        int before = NativeResources.live();
        LlamaModel model = LlamaModel.open(modelFile, OPTIONS);
        Chat chat = model.newChat("x");
        Completion completion = model.newCompletion();
        chat.send("hi", GREEDY.withMaxTokens(2));
        assertTrue(NativeResources.live() > before);
        model.close();
        assertEquals(before, NativeResources.live(), "every native resource is freed with the model");
        assertThrows(IllegalStateException.class, () -> chat.send("again", GREEDY));
        assertThrows(IllegalStateException.class, () -> completion.complete("x", GREEDY, s -> { }));
        assertThrows(IllegalStateException.class, model::newCompletion);
        model.close();
    }

    @Test
    void deviceIsChosenByName() {
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS.withDevice("cpu"))) {
            assertEquals("CPU", model.device());
        }
        var error = assertThrows(IllegalArgumentException.class, () -> LlamaModel.open(modelFile, OPTIONS.withDevice("TPU7")));
        assertTrue(error.getMessage().contains("no device 'TPU7'") && error.getMessage().contains("CPU"), error.getMessage());
    }

    @Test
    void defaultFormatIsLlama4ForLlama4Models() {
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS)) {
            assertTrue(model.defaultChatFormat() instanceof ChatFormat.Llama4);
            assertTrue(model.chatTemplate().isEmpty());
        }
    }

    private static String collect(Flow.Publisher<String> publisher) {
        CompletableFuture<String> result = new CompletableFuture<>();
        publisher.subscribe(new Flow.Subscriber<>() {
            final StringBuilder text = new StringBuilder();

            @Override
            public void onSubscribe(Flow.Subscription subscription) {
                subscription.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(String item) {
                text.append(item);
            }

            @Override
            public void onError(Throwable throwable) {
                result.completeExceptionally(throwable);
            }

            @Override
            public void onComplete() {
                result.complete(text.toString());
            }
        });
        try {
            return result.get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
