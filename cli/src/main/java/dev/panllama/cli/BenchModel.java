package dev.panllama.cli;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Writes the model scripts/bench measures: Llama 4 MoE, about 700M parameters (16 layers of 1024,
 * 8 experts of 1024, top-1, a shared expert, GQA 4:1), F16, seeded, the Llama 3 vocabulary.
 */
final class BenchModel {

    private BenchModel() {
    }

    static RandomModelSpec spec() {
        return new RandomModelSpec("llama4", 16, 1024, 8, 2, 128, 2048, 8, 1, 1024, 1, -1, 0, 16384,
                500000f, 1e-5f, GgmlType.F16, false, true, "llama4", 700);
    }

    public static void main(String[] args) throws IOException {
        Path vocabulary = UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf");
        RandomModelWriter.write(spec(), vocabulary, Path.of(args[0]));
    }
}
