package dev.panllama.e2e;

import dev.panllama.e2e.PanllamaProcess.Run;
import dev.panllama.api.Completion;
import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufWriter;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.reference.Reference;
import dev.panllama.sampling.SamplingOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packaged {@code panllama} command run as a user runs it, in a process of its own, on a generated
 * model: chat through standard input, generate and tokenize against the Java API and the reference
 * llama.cpp, and every kind of bad input.
 */
class CliEndToEndTest {

    @TempDir
    static Path temp;
    static Path model;
    static final String PROMPT = "The rivers of Europe include";

    static Run panllama(String stdin, String... args) throws IOException, InterruptedException {
        return PanllamaProcess.run(temp, stdin, args);
    }

    @BeforeAll
    static void writeModel() throws IOException {
        model = temp.resolve("e2e.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q4_K, 77).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), model);
    }

    @Test
    void chatDrivenThroughStandardInput() throws Exception {
        Run run = panllama("Hello there\n/stats\nTell me \\\nmore\n/reset\n/exit\n", "chat", "-m", model.toString(), "-n", "6", "--greedy", "-t", "2");
        assertEquals(0, run.exitCode(), run.err());
        assertEquals(2, run.out().strip().lines().count(), "two replies: " + run.out());
        assertTrue(run.err().contains("[prompt"), run.err());
        assertTrue(run.err().contains("[conversation forgotten]"), run.err());
    }

    /** Every reply of a chat under a grammar (llama-cli's --grammar) is a text of it. */
    @Test
    void chatRepliesFollowTheGrammar() throws Exception {
        Run run = panllama("Is it?\nAnd now?\nReally?\n/exit\n", "chat", "-m", model.toString(), "-n", "20", "--temp", "1.5", "-s", "3", "-t", "2",
                "--grammar", "root ::= (\"yes\" | \"no\" | \"maybe\") \", \" [0-9]{1,2} \".\"");
        assertEquals(0, run.exitCode(), run.err());
        List<String> replies = run.out().strip().lines().toList();
        assertEquals(3, replies.size(), run.out());
        for (String reply : replies) {
            assertTrue(reply.strip().matches("(yes|no|maybe), [0-9]{1,2}\\."), reply);
        }
    }

    @Test
    void generateJsonEqualsTheJavaApi() throws Exception {
        Run run = panllama("", "generate", "-m", model.toString(), "-p", PROMPT, "-n", "12", "--greedy", "--json", "-t", "2");
        assertEquals(0, run.exitCode(), run.err());
        int[] cliIds = PanllamaProcess.ints(run.out(), "generated_ids");
        int[] cliPrompt = PanllamaProcess.ints(run.out(), "prompt_ids");
        Generation api;
        try (LlamaModel llama = LlamaModel.open(model, ModelOptions.defaults().withThreads(2));
             Completion completion = llama.newCompletion()) {
            api = completion.complete(PROMPT, GenerationOptions.defaults().withMaxTokens(12).withSampling(SamplingOptions.greedy()), s -> { });
        }
        assertArrayEquals(api.promptIds(), cliPrompt);
        assertArrayEquals(api.generatedIds(), cliIds);
        assertTrue(run.out().contains("\"text\":"), run.out());
    }

    @Test
    void greedyIdsTokensAndLogitsEqualTheReference() throws Exception {
        Reference reference = new Reference(temp);
        int[] referenceIds = reference.tokenize(model, PROMPT);
        Run tokenized = panllama("", "tokenize", "-m", model.toString(), "-p", PROMPT);
        assertEquals(0, tokenized.exitCode(), tokenized.err());
        assertEquals(Arrays.toString(referenceIds), tokenized.out().strip());

        Path logits = temp.resolve("logits.bin");
        Run generated = panllama("", "generate", "-m", model.toString(), "-p", PROMPT, "-n", "10", "--greedy", "--json",
                "-t", "2", "--logits-out", logits.toString(), "--logits-last", "1");
        assertEquals(0, generated.exitCode(), generated.err());
        int[] expected = reference.greedy(model, referenceIds, 10, new Reference.Settings(512, 2, 8192));
        assertArrayEquals(expected, PanllamaProcess.ints(generated.out(), "generated_ids"));

        // One row for the last prompt position, then one per generated token but the tenth, which reaches
        // the limit and is not evaluated (as llama.cpp does not).
        float[][] rows = floats(logits, 128256);
        assertEquals(1 + 9, rows.length);
        float[] referenceLast = reference.logits(model, referenceIds, referenceIds.length - 1, new Reference.Settings(512, 2, 8192), 128256)[0];
        assertArrayEquals(referenceLast, rows[0], 1e-3f * max(referenceLast));
    }

    @Test
    void badInputGetsOneLineAndANonZeroExit() throws Exception {
        assertFails(panllama("", "generate", "-m", temp.resolve("absent.gguf").toString(), "-p", "x"), "no such file");
        Path text = Files.writeString(temp.resolve("notes.gguf"), "just some text");
        assertFails(panllama("", "generate", "-m", text.toString(), "-p", "x"), "not a GGUF file");
        Path mamba = temp.resolve("mamba.gguf");
        new GgufWriter().put("general.architecture", "mamba").write(mamba);
        assertFails(panllama("", "generate", "-m", mamba.toString(), "-p", "x"), "unsupported model architecture 'mamba'");
        assertFails(panllama("", "generate", "-m", model.toString(), "-p", "x", "--top-p", "2"), "--top-p");
        assertFails(panllama("", "bench", "-m", model.toString(), "-o", "xml"), "-o must be md or json");
        Run unknown = panllama("", "generate", "--frobnicate");
        assertEquals(2, unknown.exitCode());
        assertTrue(unknown.err().contains("Unknown option: '--frobnicate'"), unknown.err());

        Run verbose = panllama("", "--verbose", "generate", "-m", text.toString(), "-p", "x");
        assertNotEquals(0, verbose.exitCode());
        assertTrue(verbose.err().contains("\tat "), "--verbose shows the stack trace: " + verbose.err());
    }

    private static void assertFails(Run run, String message) {
        PanllamaProcess.assertFails(run, message);
    }

    @Test
    void versionInfoAndList() throws Exception {
        Run version = panllama("", "--version");
        assertEquals(0, version.exitCode());
        assertTrue(version.out().startsWith("panllama "), version.out());
        Run info = panllama("", "info", "-m", model.toString());
        assertEquals(0, info.exitCode(), info.err());
        assertTrue(info.out().contains("architecture  llama4"), info.out());
        assertTrue(info.out().contains("Q4_K"), info.out());
    }


    private static float[][] floats(Path file, int vocab) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        float[][] rows = new float[bytes.remaining() / 4 / vocab][vocab];
        for (float[] row : rows) {
            bytes.asFloatBuffer().get(row);
            bytes.position(bytes.position() + 4 * vocab);
        }
        return rows;
    }

    private static float max(float[] values) {
        float max = 0;
        for (float v : values) {
            max = Math.max(max, Math.abs(v));
        }
        return max;
    }
}
