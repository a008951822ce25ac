package dev.panllama.cli;

import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.json.JsonReader;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** {@code panllama generate --ignore-eos}: a reply the model would end at once runs to its token limit instead. */
class GenerateIgnoreEosTest {

    @TempDir
    Path temp;

    @Test
    void bannedEndsLetTheReplyRunToItsLimit() throws IOException {
        Path model = temp.resolve("eos.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 4).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), model);
        List<Integer> ends;
        try (LlamaModel llama = LlamaModel.open(model, ModelOptions.defaults())) {
            ends = llama.vocabulary().endOfGenerationIds();
        }
        assertEquals(2, ends.size(), "the Llama 3 vocabulary has an end of text and an end of turn: " + ends);
        // Biases that make the model end its reply at once, unless the ends are banned.
        List<String> args = new ArrayList<>(List.of("generate", "-m", model.toString(), "-p", "Hello", "-n", "6", "-t", "2", "-c", "256",
                "--greedy", "--json"));
        ends.forEach(id -> args.addAll(List.of("-l", id + "+100")));

        Map<?, ?> ended = run(args);
        assertEquals("end_of_turn", ended.get("stop_reason"), ended.toString());
        assertEquals(List.of(), ended.get("generated_ids"), ended.toString());

        args.add("--ignore-eos");
        Map<?, ?> ignored = run(args);
        assertEquals("max_tokens", ignored.get("stop_reason"), ignored.toString());
        List<?> generated = (List<?>) ignored.get("generated_ids");
        assertEquals(6, generated.size(), ignored.toString());
        for (int end : ends) {
            assertFalse(generated.contains((double) end), ignored.toString());
        }
    }

    private static Map<?, ?> run(List<String> args) {
        CommandRun result = CommandRun.of(args.toArray(String[]::new));
        assertEquals(0, result.exitCode(), result.err());
        return (Map<?, ?>) JsonReader.parse(result.out());
    }
}
