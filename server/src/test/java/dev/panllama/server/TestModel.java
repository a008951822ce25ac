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
import java.util.Locale;

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
        return LlamaModel.open(write(directory, GgmlType.Q8_0), options());
    }

    /** Writes the model with weights of {@code type} into {@code directory}, named after the type. */
    static Path write(Path directory, GgmlType type) throws IOException {
        Path file = directory.resolve("served-" + type.name().toLowerCase(Locale.ROOT) + ".gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(type, 3).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), file);
        return file;
    }

    static ModelOptions options() {
        return ModelOptions.defaults().withThreads(2).withContextLength(CONTEXT).withBatchSize(64);
    }

    /**
     * The options for the model written in F32: an F32 KV cache as well, the settings under which ggml's
     * CPU kernels compute a token the same whatever else shares its micro-batch. They compute it along other
     * code paths by the micro-batch's rows (and the token's place among them), and this random model
     * amplifies what differs (its attention is sharp, and each token takes one expert of four): the logits
     * after a 22-token prompt moved by 0.4 when 42 tokens of another sequence shared its micro-batch with
     * Q8_0 weights, by 1.5e-2 with F16 weights, by 2.9e-2 with F32 weights and an F16 cache (flash
     * attention takes the queries and sums in F16 below 64 rows, in F32 from 64 on), and by 1.7e-5 with F32
     * weights and an F32 cache (the router scores by 4e-6).
     */
    static ModelOptions exactOptions() {
        return options().withCacheType(GgmlType.F32);
    }

    /** The greedy reply to {@link #SYSTEM} and {@link #USER} through the facade, as the server must give it. */
    static String facadeReply(LlamaModel model) {
        try (Chat chat = model.newChat(SYSTEM)) {
            return chat.send(USER, GenerationOptions.defaults().withSampling(SamplingOptions.greedy()).withMaxTokens(REPLY_TOKENS)).text();
        }
    }
}
