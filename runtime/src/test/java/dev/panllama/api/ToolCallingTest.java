package dev.panllama.api;

import com.github.erosb.jsonsKema.JsonParser;
import com.github.erosb.jsonsKema.ValidationFailure;
import com.github.erosb.jsonsKema.Validator;
import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.chat.Message;
import dev.panllama.chat.Tool;
import dev.panllama.chat.ToolCall;
import dev.panllama.chat.ToolUse;
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
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tool calls through the facade on a random-weight model: a required call parses and its arguments
 * validate against the tool's schema (json-sKema judging) for many seeds; the call joins the
 * conversation, a tool's result follows it, and the next reply sees both.
 */
class ToolCallingTest {

    static final String WEATHER_PARAMETERS = """
            {"type": "object",
             "properties": {
               "city": {"type": "string", "minLength": 1, "maxLength": 10},
               "unit": {"enum": ["celsius", "fahrenheit"]},
               "days": {"type": "integer"}
             },
             "required": ["city", "unit"], "additionalProperties": false}
            """;
    static final String ALARM_PARAMETERS = """
            {"type": "object", "properties": {"minutes": {"type": "integer"}, "loud": {"type": "boolean"}},
             "required": ["minutes"], "additionalProperties": false}
            """;
    static final List<Tool> TOOLS = List.of(new Tool("get_weather", "The weather in a city", WEATHER_PARAMETERS),
            new Tool("set_alarm", "Rings after some minutes", ALARM_PARAMETERS));
    static final int SEEDS = 16;

    @TempDir
    static Path temp;
    static LlamaModel model;

    @BeforeAll
    static void openModel() throws IOException {
        Path file = temp.resolve("tools.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 21).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), file);
        model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(2048).withBatchSize(64));
    }

    @AfterAll
    static void closeModel() {
        model.close();
    }

    static GenerationOptions sampled(int seed) {
        return GenerationOptions.defaults().withMaxTokens(300).withSampling(SamplingOptions.defaults(seed).withTemperature(1.2f));
    }

    @Test
    void everyRequiredCallParsesAndItsArgumentsValidate() {
        Map<String, Validator> validators = Map.of("get_weather", StructuredOutputTest.validator(WEATHER_PARAMETERS),
                "set_alarm", StructuredOutputTest.validator(ALARM_PARAMETERS));
        Set<String> names = new HashSet<>();
        try (Chat chat = model.newChat("You help.")) {
            for (int seed = 0; seed < SEEDS; seed++) {
                chat.reset();
                chat.add(Message.user("What now?"));
                StringBuilder streamed = new StringBuilder();
                ChatReply reply = chat.reply(ToolUse.required(TOOLS), sampled(seed), streamed::append);
                assertEquals(1, reply.toolCalls().size(), () -> "one call in " + reply.generation().text());
                ToolCall call = reply.toolCalls().getFirst();
                ValidationFailure failure = validators.get(call.name()).validate(new JsonParser(call.arguments()).parse());
                assertNull(failure, () -> failure + " in " + call.arguments());
                assertEquals("", streamed.toString(), "a call is not streamed as text");
                Message last = chat.messages().getLast();
                assertEquals(List.of(call), last.toolCalls());
                assertEquals("", last.content());
                names.add(call.name());
            }
        }
        assertEquals(Set.of("get_weather", "set_alarm"), names, "seeds call either tool");
    }

    @Test
    void aNamedFunctionIsTheOneCalled() {
        try (Chat chat = model.newChat(null)) {
            for (int seed = 0; seed < 4; seed++) {
                chat.reset();
                chat.add(Message.user("Wake me."));
                assertEquals("set_alarm", chat.reply(ToolUse.function(TOOLS, "set_alarm"), sampled(seed), s -> { })
                        .toolCalls().getFirst().name());
            }
        }
    }

    @Test
    void aToolsResultFollowsTheCallAndTheReplyAfterItSeesBoth() {
        GenerationOptions greedy = GenerationOptions.defaults().withMaxTokens(8).withSampling(SamplingOptions.greedy());
        try (Chat chat = model.newChat("You help.")) {
            chat.add(Message.user("Weather in Oslo?"));
            ToolCall call = chat.reply(ToolUse.required(TOOLS), greedy.withMaxTokens(300), s -> { }).toolCalls().getFirst();
            chat.add(Message.tool(call.id(), "{\"sky\": \"rain\"}"));
            StringBuilder streamed = new StringBuilder();
            ChatReply answer = chat.reply(ToolUse.auto(TOOLS), greedy, streamed::append);
            List<Message> conversation = chat.messages();
            String expectedPrompt = chat.format().render(conversation.subList(0, conversation.size() - 1), TOOLS, true);
            assertTrue(expectedPrompt.contains("{\"sky\": \"rain\"}") && expectedPrompt.contains("\"parameters\":" + call.arguments()),
                    expectedPrompt);
            assertEquals(model.tokenizer().encode(expectedPrompt, true, true).length, answer.generation().promptIds().length);
            if (!answer.callsTools()) {
                assertEquals(answer.generation().text(), streamed.toString(), "a reply that is no call streams whole");
                assertEquals(Message.assistant(answer.generation().text()), conversation.getLast());
            }
        }
    }

    @Test
    void aCallersStopSignalStopsACallBeingHeldBackAndIsNotClearedByTheStart() {
        try (Chat chat = model.newChat(null)) {
            chat.add(Message.user("What now?"));
            int[] asked = {0};
            StringBuilder streamed = new StringBuilder();
            int[] streamedWhenStopped = {-1};
            ChatReply stopped = chat.reply(ToolUse.required(TOOLS), sampled(3), streamed::append, () -> {
                if (++asked[0] <= 5) {
                    return false;
                }
                streamedWhenStopped[0] = streamed.length();
                return true;
            });
            assertEquals(Generation.StopReason.CANCELLED, stopped.generation().stopReason());
            assertEquals(5, stopped.generation().generatedIds().length, "asked before each token");
            assertEquals(0, streamedWhenStopped[0], "the stop came while the call was held back");
            assertTrue(stopped.toolCalls().isEmpty(), "half a call is no call");

            chat.reset();
            chat.add(Message.user("What now?"));
            chat.cancel();
            ChatReply signalled = chat.reply(ToolUse.required(TOOLS), sampled(3), s -> { }, () -> true);
            assertEquals(Generation.StopReason.CANCELLED, signalled.generation().stopReason());
            assertEquals(0, signalled.generation().generatedIds().length, "a signal given before the start stops it");

            chat.reset();
            chat.add(Message.user("What now?"));
            chat.cancel();
            assertEquals(1, chat.reply(ToolUse.required(TOOLS), sampled(3), s -> { }).toolCalls().size(),
                    "a cancel() with no reply under way is cleared by the next reply's start");
        }
    }

    @Test
    void aRequiredCallCannotAlsoFollowAJsonSchemaAndACallIsNotSavedToASessionFile() {
        try (Chat chat = model.newChat(null)) {
            chat.add(Message.user("Hi"));
            assertThrows(IllegalArgumentException.class, () -> chat.reply(ToolUse.required(TOOLS),
                    sampled(1).withJsonObject(), s -> { }));
            chat.add(Message.assistant("", List.of(new ToolCall("call_1", "set_alarm", "{\"minutes\":1}"))));
            Path file = temp.resolve("never.session");
            assertThrows(IllegalArgumentException.class, () -> chat.save(file), "a conversation with tool calls is not saved");
            assertTrue(java.nio.file.Files.notExists(file));
        }
    }
}
