package dev.panllama.parity;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufValue;
import dev.panllama.gguf.GgufWriter;
import dev.panllama.reference.Reference;
import dev.panllama.tokenizer.Tokenizer;
import dev.panllama.tokenizer.Vocabulary;
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

    /**
     * The tokens generation stops at, and fill-in-the-middle's prefix, suffix and middle, are those llama.cpp's
     * vocabulary finds: by text in the test vocabularies ({@code <|end_of_text|>} beside Llama 3's end of turn), and
     * by key where a file names them (the fill-in-the-middle separators end a generation too).
     */
    @Test
    void specialTokensAreLlamaCpps() throws IOException {
        Path named = temp.resolve("vocab-named.gguf");
        try (GgufFile source = GgufFile.open(vocabulary("ggml-vocab-llama-bpe.gguf"))) {
            GgufWriter writer = new GgufWriter().putAll(source.metadata());
            String[] keys = {"fim_pre", "fim_suf", "fim_mid", "fim_pad", "fim_rep", "fim_sep", "eom", "eot"};
            for (int i = 0; i < keys.length; i++) {
                writer.put("tokenizer.ggml." + keys[i] + "_token_id", GgufValue.ofUint32(128011 + i));
            }
            writer.write(named);
        }
        Reference reference = new Reference(temp);
        for (Path vocab : List.of(vocabulary("ggml-vocab-llama-bpe.gguf"), vocabulary("ggml-vocab-llama-spm.gguf"), llama4Vocabulary(), named)) {
            Reference.Specials expected = reference.specials(vocab);
            Vocabulary actual;
            try (GgufFile file = GgufFile.open(vocab)) {
                actual = Vocabulary.from(file.metadata());
            }
            assertEquals(expected, new Reference.Specials(actual.fimPrefix(), actual.fimSuffix(), actual.fimMiddle(),
                    actual.endOfGenerationIds()), vocab.getFileName().toString());
        }
        assertEquals(List.of(128001, 128009, 128014, 128015, 128016, 128017, 128018), reference.specials(named).endOfGeneration(),
                "the file's end of text and of turn by text, and its named padding, repository, file separator, end of message and of turn");
    }
}
