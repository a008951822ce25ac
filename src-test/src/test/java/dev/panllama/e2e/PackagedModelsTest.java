package dev.panllama.e2e;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.e2e.PanllamaProcess.Run;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.parity.RpcServerProcess;
import dev.panllama.reference.Reference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The distributed jar as a user runs it, in a process of its own with an empty cache, so that ggml
 * picks its CPU variant from the jar for this machine (on a Xeon with AMX, the one most likely to
 * crash): the demo model, a Q4_K_M and a Q8_0 model generate the reference llama.cpp's greedy ids.
 * A native crash is a failed run here, never a dead test JVM.
 */
class PackagedModelsTest {

    private static final String PROMPT = "The rivers of Europe include";
    private static final int STEPS = 12;
    /** Two logits this close (relative to the row's largest) are a tie as far as the kernels can tell. */
    private static final float NEAR_TIE = 1e-3f;

    @TempDir
    static Path temp;
    static Map<String, String> emptyCache;
    static Reference reference;

    @BeforeAll
    static void setUp() throws Exception {
        emptyCache = Map.of("PANLLAMA_CACHE", Files.createDirectories(temp.resolve("cache")).toString());
        reference = new Reference(temp);
    }

    static Run panllama(String... args) throws Exception {
        return PanllamaProcess.run(PanllamaProcess.distributionJar(), emptyCache, temp, "", args);
    }

    @Test
    void systemReportNamesTheCpuVariantAndItsBufferTypes() throws Exception {
        Run report = panllama();
        assertEquals(0, report.exitCode(), report.err());
        assertTrue(report.out().contains("(the panllama jar)"), report.out());
        Matcher variant = Pattern.compile("cpu +variant (\\S+) \\(libggml-cpu-\\1\\.so\\)").matcher(report.out());
        assertTrue(variant.find(), "the variant ggml chose: " + report.out());
        assertTrue(report.out().lines().anyMatch(l -> l.startsWith("buffers ")), report.out());
        assertFalse(report.out().contains("not used"), report.out());
    }

    /** The README's first command: a chat with the demo model, which the jar writes on first use. */
    @Test
    void demoModel() throws Exception {
        Run chat = PanllamaProcess.run(PanllamaProcess.distributionJar(), emptyCache, temp, "Hello\n/exit\n",
                "chat", "-n", "8", "--greedy", "-t", "2");
        assertEquals(0, chat.exitCode(), "panllama chat exited " + chat.exitCode() + ": " + chat.err());
        Path demo = temp.resolve("cache/demo/panllama-demo-llama4-" + NativePin.current().version() + ".gguf");
        assertTrue(Files.isRegularFile(demo), "the demo model was written to " + demo);
        assertGeneratesTheReferenceIds(generate(demo), demo);
    }

    @Test
    void q4KMModel() throws Exception {
        Path f16 = temp.resolve("scout-f16.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.F16, 41), vocabulary(), f16);
        Path q4km = temp.resolve("scout-q4_k_m.gguf");
        reference.quantize(f16, q4km, "Q4_K_M");
        assertGeneratesTheReferenceIds(generate(q4km), q4km);
    }

    @Test
    void q8_0Model() throws Exception {
        Path q8 = temp.resolve("maverick-q8_0.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 42).withExperts(4, 1, 2), vocabulary(), q8);
        assertGeneratesTheReferenceIds(generate(q8), q8);
    }

    /** The jar's portable build has ggml's RPC backend: a model split with an rpc-server computes the reference's ids. */
    @Test
    void rpcServersFromTheJar() throws Exception {
        Path q8 = temp.resolve("maverick-q8_0-rpc.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 43).withExperts(4, 1, 2), vocabulary(), q8);
        try (RpcServerProcess server = RpcServerProcess.start(temp.resolve("rpc-server.log"), 1)) {
            Run run = panllama("generate", "-m", q8.toString(), "-p", PROMPT, "-n", String.valueOf(STEPS), "--greedy", "--json", "-t", "2",
                    "--rpc", server.endpoint());
            assertTrue(run.err().contains("placement planned to fit (--fit):"), run.err());
            assertTrue(run.err().lines().anyMatch(l -> l.trim().startsWith("RPC0") && !l.contains("weights    0.0 MiB")), run.err());
            assertGeneratesTheReferenceIds(run, q8);
        }
    }

    private static Run generate(Path model) throws Exception {
        return panllama("generate", "-m", model.toString(), "-p", PROMPT, "-n", String.valueOf(STEPS), "--greedy", "--json", "-t", "2");
    }

    /**
     * The run ended well and each generated id is the one the reference llama.cpp picks after the same
     * tokens. The jar's CPU variant is the best portable one for this CPU (sapphirerapids, with ggml's AMX
     * kernels, on an AMX Xeon), the reference is built for this very machine; with scripts/build-native's flags they compute the same
     * logits on the Xeon and the EPYC this runs on, but a CPU with an instruction set extension no
     * variant has may round differently in the last bits, and where a random model's two best logits
     * nearly tie, either pick is right. The reference's logits after panllama's own tokens decide:
     * panllama's pick must be within {@link #NEAR_TIE} (relative to the row's largest logit) of the
     * reference's best. (Half-precision sums, which moved logits by 2 %, failed this by far.)
     */
    private static void assertGeneratesTheReferenceIds(Run run, Path model) throws Exception {
        assertEquals(0, run.exitCode(), "panllama exited " + run.exitCode() + ": " + run.err());
        int[] prompt = PanllamaProcess.ints(run.out(), "prompt_ids");
        assertArrayEquals(reference.tokenize(model, PROMPT), prompt);
        int[] generated = PanllamaProcess.ints(run.out(), "generated_ids");
        assertEquals(STEPS, generated.length, run.out());
        int[] sequence = new int[prompt.length + generated.length - 1];
        System.arraycopy(prompt, 0, sequence, 0, prompt.length);
        System.arraycopy(generated, 0, sequence, prompt.length, generated.length - 1);
        int vocabulary = 128256;
        float[][] rows = reference.logits(model, sequence, prompt.length - 1, new Reference.Settings(512, 2, 8192), vocabulary);
        int nearTies = 0;
        for (int step = 0; step < generated.length; step++) {
            float[] row = rows[step];
            int best = 0;
            float scale = 0;
            for (int v = 0; v < row.length; v++) {
                best = row[v] > row[best] ? v : best;
                scale = Math.max(scale, Math.abs(row[v]));
            }
            if (generated[step] != best) {
                nearTies++;
                float gap = row[best] - row[generated[step]];
                assertTrue(gap <= NEAR_TIE * scale, "step " + step + ": panllama picked " + generated[step] + ", the reference "
                        + best + ", " + gap + " apart (largest logit " + scale + ")");
            }
        }
        System.out.printf("%s: %d steps, %d near ties picked the other way%n", model.getFileName(), generated.length, nearTies);
    }

    private static Path vocabulary() {
        return UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf");
    }
}
