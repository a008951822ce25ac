package dev.panllama.tokenizer;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.gguf.GgufFile;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * llama.cpp's own tokenizer test vectors from the pinned tree ({@code models/ggml-vocab-*.gguf.inp}
 * and {@code .out}): every case must give the same ids, tokenized as llama.cpp's test-tokenizer-0
 * does (no BOS/EOS, special tokens not parsed), and decode back to the input.
 */
class TokenizerVectorsTest {

    static Path models() {
        return UserCache.user().vocabularies(NativePin.current());
    }

    record Case(String text, int[] ids) {
    }

    static List<Case> cases(String vocab) throws IOException {
        String input = Files.readString(models().resolve(vocab + ".inp"), StandardCharsets.UTF_8);
        List<String> outputs = Files.readAllLines(models().resolve(vocab + ".out"), StandardCharsets.UTF_8);
        String separator = "\n__ggml_vocab_test__\n";
        List<String> texts = new ArrayList<>();
        int position = 0;
        while (position < input.length()) {
            int next = input.indexOf(separator, position);
            if (next < 0) {
                texts.add(input.substring(position));
                break;
            }
            texts.add(input.substring(position, next));
            position = next + separator.length();
        }
        assertEquals(texts.size(), outputs.size(), "inputs and outputs of " + vocab);
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            String line = outputs.get(i).strip();
            int[] ids = line.isEmpty() ? new int[0] : Arrays.stream(line.split(" ")).mapToInt(Integer::parseInt).toArray();
            cases.add(new Case(texts.get(i), ids));
        }
        return cases;
    }

    @ParameterizedTest
    @ValueSource(strings = {"ggml-vocab-llama-bpe.gguf", "ggml-vocab-llama-spm.gguf"})
    void everyVectorMatches(String vocab) throws IOException {
        Tokenizer tokenizer;
        try (GgufFile file = GgufFile.open(models().resolve(vocab))) {
            tokenizer = Tokenizer.of(file.metadata());
        }
        List<Case> cases = cases(vocab);
        assertTrue(cases.size() > 30, "expected the full set of vectors, found " + cases.size());
        List<String> failures = new ArrayList<>();
        for (Case c : cases) {
            int[] actual = tokenizer.encode(c.text(), false, false);
            if (!Arrays.equals(c.ids(), actual)) {
                failures.add("'" + c.text() + "': expected " + Arrays.toString(c.ids()) + ", got " + Arrays.toString(actual));
            } else if (!tokenizer.decode(actual).equals(c.text()) && !c.text().isBlank()) {
                failures.add("'" + c.text() + "' decodes to '" + tokenizer.decode(actual) + "'");
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + cases.size() + " differ:\n" + String.join("\n", failures));
    }
}
