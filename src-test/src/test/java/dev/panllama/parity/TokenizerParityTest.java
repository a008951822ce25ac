package dev.panllama.parity;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufWriter;
import dev.panllama.reference.Reference;
import dev.panllama.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * panllama's tokenizer gives the ids of the reference llama.cpp's for the same vocabulary and text:
 * hundreds of generated texts in many scripts, with and without BOS and special-token parsing.
 */
class TokenizerParityTest {

    @TempDir
    Path temp;

    static Path vocabulary(String name) {
        return UserCache.user().vocabularies(NativePin.current()).resolve(name);
    }

    /** The llama-bpe vocabulary relabelled with Llama 4's pre-tokenizer. */
    private Path llama4Vocabulary() throws IOException {
        Path target = temp.resolve("vocab-llama4.gguf");
        try (GgufFile source = GgufFile.open(vocabulary("ggml-vocab-llama-bpe.gguf"))) {
            new GgufWriter().putAll(source.metadata()).put("tokenizer.ggml.pre", "llama4").write(target);
        }
        return target;
    }

    private void assertSameIds(Path vocab, List<String> texts, boolean addSpecial, boolean parseSpecial) throws IOException {
        List<int[]> expected = new Reference(temp).tokenize(vocab, texts, addSpecial, parseSpecial);
        Tokenizer tokenizer;
        try (GgufFile file = GgufFile.open(vocab)) {
            tokenizer = Tokenizer.of(file.metadata());
        }
        assertEquals(texts.size(), expected.size());
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            int[] actual = tokenizer.encode(texts.get(i), addSpecial, parseSpecial);
            if (!Arrays.equals(expected.get(i), actual)) {
                failures.add(texts.get(i).replace("\n", "\\n") + "\n  reference " + Arrays.toString(expected.get(i))
                        + "\n  panllama  " + Arrays.toString(actual));
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + texts.size() + " differ:\n"
                + String.join("\n", failures.subList(0, Math.min(10, failures.size()))));
    }

    @Test
    void llamaBpe() throws IOException {
        List<String> texts = SampleText.generate(1, 400, 24);
        assertSameIds(vocabulary("ggml-vocab-llama-bpe.gguf"), texts, true, true);
        assertSameIds(vocabulary("ggml-vocab-llama-bpe.gguf"), texts, false, false);
    }

    @Test
    void llama4() throws IOException {
        List<String> texts = SampleText.generate(2, 400, 24);
        Path vocab = llama4Vocabulary();
        assertSameIds(vocab, texts, true, true);
        assertSameIds(vocab, texts, false, false);
    }

    @Test
    void llamaSentencePiece() throws IOException {
        List<String> texts = SampleText.generate(3, 400, 24);
        assertSameIds(vocabulary("ggml-vocab-llama-spm.gguf"), texts, true, true);
        assertSameIds(vocabulary("ggml-vocab-llama-spm.gguf"), texts, false, false);
    }
}
