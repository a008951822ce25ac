package dev.panllama.e2e;

import dev.panllama.api.Completion;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.sampling.SamplingOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.containers.Container;
import org.testcontainers.containers.GenericContainer;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The distribution (cli/target/dist from scripts/package) on a machine that has only a JDK 25: a
 * minimal Debian container built locally (scripts/docker-test-image), the host's JDK mounted in, no
 * compiler, no cmake, no build cache. Skipped, saying so, where Docker cannot run.
 */
class PackagedDistributionTest {

    @TempDir
    Path models;

    @Test
    void versionInfoAndGreedyGenerationRunInAMinimalDebian() throws Exception {
        GenericContainer<?> configured = MinimalDebian.container(models);
        Path model = models.resolve("model.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 9).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), model);
        int[] expected;
        try (LlamaModel llama = LlamaModel.open(model, ModelOptions.defaults().withThreads(2));
             Completion completion = llama.newCompletion()) {
            expected = completion.complete("Hello", GenerationOptions.defaults().withMaxTokens(8)
                    .withSampling(SamplingOptions.greedy()), s -> { }).generatedIds();
        }

        try (GenericContainer<?> container = configured) {
            MinimalDebian.start(container);
            Container.ExecResult noCompiler = container.execInContainer("sh", "-c", "command -v cc gcc cmake javac || true");
            assertEquals("", noCompiler.getStdout().strip(), "the image must have no compiler or build tool");

            Container.ExecResult version = container.execInContainer(MinimalDebian.PANLLAMA, "--version");
            assertEquals(0, version.getExitCode(), version.getStderr());
            assertTrue(version.getStdout().startsWith("panllama "), version.getStdout());

            Container.ExecResult report = container.execInContainer(MinimalDebian.PANLLAMA);
            assertEquals(0, report.getExitCode(), report.getStderr());
            assertTrue(report.getStdout().contains("(the panllama jar)"), "libraries come from the jar: " + report.getStdout());

            Container.ExecResult info = container.execInContainer(MinimalDebian.PANLLAMA, "info", "-m", "/models/model.gguf");
            assertEquals(0, info.getExitCode(), info.getStderr());
            assertTrue(info.getStdout().contains("architecture  llama4"), info.getStdout());

            Container.ExecResult generated = container.execInContainer(MinimalDebian.PANLLAMA, "generate", "-m", "/models/model.gguf",
                    "-p", "Hello", "-n", "8", "--greedy", "--json", "-t", "2");
            assertEquals(0, generated.getExitCode(), generated.getStderr());
            assertTrue(generated.getStdout().contains("\"generated_ids\":" + Arrays.toString(expected).replace(" ", "")),
                    "container output " + generated.getStdout() + " vs host " + Arrays.toString(expected));
        }
    }
}
