package dev.panllama.e2e;

import dev.panllama.api.Completion;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.NativeCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.sampling.SamplingOptions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.BindMode;
import org.testcontainers.containers.Container;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.utility.DockerImageName;

import java.nio.file.Files;
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

    private static final String IMAGE = "panllama-debian-minimal:bookworm";

    @TempDir
    Path models;

    @Test
    void versionInfoAndGreedyGenerationRunInAMinimalDebian() throws Exception {
        Assumptions.assumeTrue(dockerAvailable(), "Docker is not available here: the packaging test is skipped");
        Assumptions.assumeTrue(imageExists(), IMAGE + " is not built (scripts/docker-test-image): the packaging test is skipped");
        Path dist = Path.of("..", "cli", "target", "dist").toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(dist.resolve("panllama.jar")), dist + " is missing: run scripts/package");

        Path model = models.resolve("model.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 9).withTiedOutput(true),
                NativeCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), model);
        int[] expected;
        try (LlamaModel llama = LlamaModel.open(model, ModelOptions.defaults().withThreads(2));
             Completion completion = llama.newCompletion()) {
            expected = completion.complete("Hello", GenerationOptions.defaults().withMaxTokens(8)
                    .withSampling(SamplingOptions.greedy()), s -> { }).generatedIds();
        }

        try (GenericContainer<?> container = new GenericContainer<>(DockerImageName.parse(IMAGE))
                .withFileSystemBind(System.getProperty("java.home"), "/opt/jdk", BindMode.READ_ONLY)
                .withFileSystemBind(dist.toString(), "/opt/panllama", BindMode.READ_ONLY)
                .withFileSystemBind(models.toString(), "/models", BindMode.READ_ONLY)
                .withEnv("JAVA_HOME", "/opt/jdk")
                .withCommand("sleep", "infinity")) {
            try {
                container.start();
            } catch (RuntimeException engineProblem) {
                Assumptions.abort("Docker could not start a container here (" + engineProblem.getMessage()
                        + "): the packaging test is skipped");
            }
            Container.ExecResult noCompiler = container.execInContainer("sh", "-c", "command -v cc gcc cmake javac || true");
            assertEquals("", noCompiler.getStdout().strip(), "the image must have no compiler or build tool");

            Container.ExecResult version = container.execInContainer("/opt/panllama/panllama", "--version");
            assertEquals(0, version.getExitCode(), version.getStderr());
            assertTrue(version.getStdout().startsWith("panllama "), version.getStdout());

            Container.ExecResult report = container.execInContainer("/opt/panllama/panllama");
            assertEquals(0, report.getExitCode(), report.getStderr());
            assertTrue(report.getStdout().contains("(the panllama jar)"), "libraries come from the jar: " + report.getStdout());

            Container.ExecResult info = container.execInContainer("/opt/panllama/panllama", "info", "-m", "/models/model.gguf");
            assertEquals(0, info.getExitCode(), info.getStderr());
            assertTrue(info.getStdout().contains("architecture  llama4"), info.getStdout());

            Container.ExecResult generated = container.execInContainer("/opt/panllama/panllama", "generate", "-m", "/models/model.gguf",
                    "-p", "Hello", "-n", "8", "--greedy", "--json", "-t", "2");
            assertEquals(0, generated.getExitCode(), generated.getStderr());
            assertTrue(generated.getStdout().contains("\"generated_ids\":" + Arrays.toString(expected).replace(" ", "")),
                    "container output " + generated.getStdout() + " vs host " + Arrays.toString(expected));
        }
    }

    private static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static boolean imageExists() {
        try {
            DockerClientFactory.instance().client().inspectImageCmd(IMAGE).exec();
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }
}
