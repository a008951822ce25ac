package dev.panllama.server;

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

import java.io.IOException;
import java.nio.file.Path;

/** The served model of the tests: a random-weight Llama 4 with the real Llama 3 tokenizer, and its facade answers. */
final class TestModel {

    static final String ID = "panllama-test";
    static final int CONTEXT = 1024;
    static final String SYSTEM = "Be brief.";
    static final String USER = "Hello there";
    static final int REPLY_TOKENS = 12;

    private TestModel() {
    }

    static LlamaModel open(Path directory) throws IOException {
        Path file = directory.resolve("served.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 3).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), file);
        return LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(CONTEXT).withBatchSize(64));
    }

    /** The greedy reply to {@link #SYSTEM} and {@link #USER} through the facade, as the server must give it. */
    static String facadeReply(LlamaModel model) {
        try (Chat chat = model.newChat(SYSTEM)) {
            return chat.send(USER, GenerationOptions.defaults().withSampling(SamplingOptions.greedy()).withMaxTokens(REPLY_TOKENS)).text();
        }
    }
}
