package dev.panllama.langchain4j;

import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufValue;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.sampling.SamplingOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * A model whose chat template opens a reasoning block (DeepSeek R1's distillation of Llama): its reasoning comes
 * to LangChain4j as the AI message's thinking, and streamed as partial thinking, apart from the text, kept as
 * written (as the server's {@code reasoning_content}, checked against llama-server). A grammar forces the reply,
 * so that a random model closes the block.
 */
class ReasoningTest {

    @TempDir
    static Path temp;

    @Test
    void theReasoningComesAsThinkingWholeAndStreamed() throws Exception {
        NativePin pin = NativePin.current();
        Path template = UserCache.user().source(pin).resolve("models/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja");
        Path file = temp.resolve("r1.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 3).withTiedOutput(true),
                UserCache.user().vocabularies(pin).resolve("ggml-vocab-llama-bpe.gguf"), file,
                Map.of("tokenizer.chat_template", GgufValue.of(Files.readString(template))));
        GenerationOptions forced = GenerationOptions.defaults().withSampling(SamplingOptions.greedy()).withMaxTokens(40)
                .withGrammar("root ::= \"I ponder.\" \" \" \"</think>\" \"\\n\\nRome it is.\"");
        ChatRequest request = ChatRequest.builder().messages(UserMessage.from("Capital of Italy?")).build();
        try (LlamaModel model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(512));
             PanllamaChatModel chat = new PanllamaChatModel(model, forced);
             PanllamaStreamingChatModel streaming = new PanllamaStreamingChatModel(model, forced)) {
            ChatResponse whole = chat.chat(request);
            assertEquals("\nI ponder. ", whole.aiMessage().thinking(), "the prompt's newline after <think> and all before </think>");
            assertEquals("\n\nRome it is.", whole.aiMessage().text());

            StringBuilder thinking = new StringBuilder();
            StringBuilder text = new StringBuilder();
            CompletableFuture<ChatResponse> done = new CompletableFuture<>();
            streaming.chat(request, PanllamaChatModelTest.handler(thinking::append, text::append,
                    call -> done.completeExceptionally(new AssertionError("an unexpected tool call: " + call)), done));
            ChatResponse streamed = done.get(120, TimeUnit.SECONDS);
            assertEquals(whole.aiMessage(), streamed.aiMessage());
            assertEquals(whole.aiMessage().thinking(), thinking.toString());
            assertEquals(whole.aiMessage().text(), text.toString());
        }
        // A template that writes no reasoning: all text, no thinking.
        Path plain = temp.resolve("plain.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 3).withTiedOutput(true),
                UserCache.user().vocabularies(pin).resolve("ggml-vocab-llama-bpe.gguf"), plain);
        try (LlamaModel model = LlamaModel.open(plain, ModelOptions.defaults().withThreads(2).withContextLength(512));
             PanllamaChatModel chat = new PanllamaChatModel(model, GenerationOptions.defaults().withSampling(SamplingOptions.greedy())
                     .withMaxTokens(12).withGrammar("root ::= \"<think>a</think>b\""))) {
            ChatResponse reply = chat.chat(request);
            assertEquals("<think>a</think>b", reply.aiMessage().text());
            assertNull(reply.aiMessage().thinking());
        }
    }
}
