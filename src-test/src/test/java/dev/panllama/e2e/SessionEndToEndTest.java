package dev.panllama.e2e;

import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.e2e.PanllamaProcess.Run;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sessions saved by one {@code panllama} process and taken up by another: a chat's {@code /save} and
 * {@code /load}, and {@code generate --prompt-cache}, continue with the greedy tokens of the
 * uninterrupted run while evaluating fewer tokens; damaged and foreign files are refused with one line.
 */
class SessionEndToEndTest {

    @TempDir
    static Path temp;
    static Path model;
    static Path otherModel;
    static final String PROMPT = "The rivers of Europe include the Danube, the Rhine and";

    @BeforeAll
    static void writeModels() throws IOException {
        Path vocabulary = UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf");
        model = temp.resolve("session.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 41).withTiedOutput(true), vocabulary, model);
        otherModel = temp.resolve("other.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 42).withTiedOutput(true), vocabulary, otherModel);
    }

    private static Run chat(String stdin, Path modelFile) throws IOException, InterruptedException {
        return PanllamaProcess.run(temp, stdin, "chat", "-m", modelFile.toString(), "-n", "8", "--greedy", "-t", "2", "-c", "512");
    }

    private static Run generate(Path cache, String... more) throws IOException, InterruptedException {
        String[] args = {"generate", "-m", model.toString(), "-p", PROMPT, "-n", "10", "--greedy", "--json", "-t", "2", "-c", "512",
                "--prompt-cache", cache.toString()};
        String[] all = Arrays.copyOf(args, args.length + more.length);
        System.arraycopy(more, 0, all, args.length, more.length);
        return PanllamaProcess.run(temp, "", all);
    }

    /** The prompt tokens each reply's statistics line says were evaluated. */
    private static int[] promptTokensPerReply(String err) {
        Matcher m = Pattern.compile("\\[prompt (\\d+) ").matcher(err);
        return m.results().mapToInt(r -> Integer.parseInt(r.group(1))).toArray();
    }

    private static int promptTokens(String json) {
        Matcher m = Pattern.compile("\"prompt_tokens\":(\\d+)").matcher(json);
        assertTrue(m.find(), json);
        return Integer.parseInt(m.group(1));
    }

    @Test
    void aChatSavedInOneProcessContinuesInAnotherAsIfUninterrupted() throws Exception {
        Path session = temp.resolve("chat.session");
        Run uninterrupted = chat("Name a river\nAnd another one\n", model);
        assertEquals(0, uninterrupted.exitCode(), uninterrupted.err());
        Run first = chat("Name a river\n/save " + session + "\n", model);
        assertEquals(0, first.exitCode(), first.err());
        assertTrue(first.err().contains("[saved 2 messages and "), first.err());
        Run resumed = chat("/load " + session + "\nAnd another one\n", model);
        assertEquals(0, resumed.exitCode(), resumed.err());
        assertTrue(resumed.err().contains("[loaded 2 messages and "), resumed.err());

        assertEquals(uninterrupted.out(), first.out() + resumed.out(), "the same replies, split between two processes");
        int[] expected = promptTokensPerReply(uninterrupted.err());
        int[] actual = promptTokensPerReply(resumed.err());
        assertEquals(2, expected.length, uninterrupted.err());
        assertArrayEquals(new int[] {expected[1]}, actual, "the resumed chat evaluates only the new turn: " + resumed.err());
    }

    @Test
    void generateWithAPromptCacheEvaluatesOnlyTheLastTokenTheSecondTime() throws Exception {
        Path cache = temp.resolve("prompt.cache");
        Run cold = generate(cache);
        assertEquals(0, cold.exitCode(), cold.err());
        assertTrue(Files.isRegularFile(cache), "the prompt's state is saved");
        int promptLength = PanllamaProcess.ints(cold.out(), "prompt_ids").length;
        assertEquals(promptLength, promptTokens(cold.out()));

        long written = Files.getLastModifiedTime(cache).toMillis();
        Run warm = generate(cache);
        assertEquals(0, warm.exitCode(), warm.err());
        assertEquals(1, promptTokens(warm.out()), "only the last prompt token is evaluated again: " + warm.out());
        // The file holds the prompt but its last token, which every run evaluates on its own.
        assertTrue(warm.err().contains("prompt cache: " + (promptLength - 1) + " of " + promptLength + " prompt tokens reused"), warm.err());
        assertArrayEquals(PanllamaProcess.ints(cold.out(), "generated_ids"), PanllamaProcess.ints(warm.out(), "generated_ids"));
        assertEquals(written, Files.getLastModifiedTime(cache).toMillis(), "a cache that holds all it can of the prompt is not rewritten");

        Run readOnly = generate(cache, "--prompt-cache-ro");
        assertEquals(0, readOnly.exitCode(), readOnly.err());
        assertArrayEquals(PanllamaProcess.ints(cold.out(), "generated_ids"), PanllamaProcess.ints(readOnly.out(), "generated_ids"));
    }

    @Test
    void damagedAndForeignSessionsAreRefusedWithOneLine() throws Exception {
        Path cache = temp.resolve("refused.cache");
        assertEquals(0, generate(cache).exitCode());
        byte[] bytes = Files.readAllBytes(cache);

        Path flipped = temp.resolve("flipped.cache");
        bytes[bytes.length / 3] ^= 0x01;
        Files.write(flipped, bytes);
        PanllamaProcess.assertFails(generate(flipped), "is damaged");
        assertArrayEquals(bytes, Files.readAllBytes(flipped), "a refused cache is left as it was");

        Path truncated = temp.resolve("truncated.cache");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length / 2));
        PanllamaProcess.assertFails(generate(truncated), "is truncated");

        PanllamaProcess.assertFails(chat("/load " + cache + "\nHello\n", otherModel), "was saved with another model: session.gguf");
        PanllamaProcess.assertFails(PanllamaProcess.run(temp, "", "generate", "-m", model.toString(), "-p", "x", "--prompt-cache-ro"),
                "--prompt-cache-ro needs --prompt-cache FILE");
    }
}
