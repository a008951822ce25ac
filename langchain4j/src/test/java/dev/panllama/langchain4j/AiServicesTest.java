package dev.panllama.langchain4j;

import dev.langchain4j.model.chat.Capability;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.SystemMessage;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.json.JsonReader;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.sampling.SamplingOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LangChain4j's AI services over the in-process model: since the model reports the JSON-schema
 * capability, a method that returns a record sends the record's schema as the response format, and
 * sampling keeps to it, so every reply parses into the record. (A random-weight model's free text would
 * not.)
 */
class AiServicesTest {

    enum Answer { YES, NO, MAYBE }

    record Verdict(Answer answer, int confidence, boolean sure) {
    }

    interface Judge {
        @SystemMessage("Judge the statement.")
        Verdict judge(String statement);
    }

    /** The model as the service sees it, keeping each request and reply for the test to look at. */
    record Recording(PanllamaChatModel model, List<ChatRequest> requests, List<String> replies) implements ChatModel {
        @Override
        public ChatResponse doChat(ChatRequest request) {
            requests.add(request);
            ChatResponse response = model.doChat(request);
            replies.add(response.aiMessage().text());
            return response;
        }

        @Override
        public Set<Capability> supportedCapabilities() {
            return model.supportedCapabilities();
        }
    }

    @TempDir
    Path temp;

    @Test
    void aServiceMethodReturningARecordGetsRepliesOfItsSchema() throws IOException {
        Path file = temp.resolve("services.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 5).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), file);
        try (LlamaModel model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(2048).withBatchSize(64));
             PanllamaChatModel chat = new PanllamaChatModel(model, GenerationOptions.defaults().withMaxTokens(200)
                     .withSampling(SamplingOptions.defaults(7).withTemperature(1.2f)))) {
            Recording recording = new Recording(chat, new ArrayList<>(), new ArrayList<>());
            Judge judge = AiServices.create(Judge.class, recording);
            for (String statement : List.of("Rivers flow uphill.", "Seven is prime.", "Copper is a metal.")) {
                assertNotNull(judge.judge(statement));
            }
            assertEquals(3, recording.replies().size());
            for (ChatRequest request : recording.requests()) {
                assertEquals(ResponseFormatType.JSON, request.parameters().responseFormat().type());
                assertEquals("Verdict", request.parameters().responseFormat().jsonSchema().name());
            }
            for (String reply : recording.replies()) {
                // LangChain4j's schema of a record requires none of its fields: an object of some of them.
                assertTrue(JsonReader.parse(reply) instanceof Map<?, ?> object && Set.of("answer", "confidence", "sure").containsAll(object.keySet()),
                        reply);
            }
        }
    }
}
