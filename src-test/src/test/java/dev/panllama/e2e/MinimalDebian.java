package dev.panllama.e2e;

import org.junit.jupiter.api.Assumptions;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.BindMode;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.utility.DockerImageName;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A machine that has only a JDK 25: the minimal Debian image scripts/docker-test-image builds, with the
 * host's JDK, the distribution (cli/target/dist) and a folder of models mounted read-only. Tests that
 * need it are skipped, saying so, where Docker cannot run.
 */
final class MinimalDebian {

    static final String IMAGE = "panllama-debian-minimal:bookworm";
    static final String PANLLAMA = "/opt/panllama/panllama";

    private MinimalDebian() {
    }

    /** A container ready to start, idling so that commands can be run in it one by one. */
    static GenericContainer<?> container(Path models) {
        Assumptions.assumeTrue(dockerAvailable(), "Docker is not available here: the container test is skipped");
        Assumptions.assumeTrue(imageExists(), IMAGE + " is not built (scripts/docker-test-image): the container test is skipped");
        Path dist = Path.of("..", "cli", "target", "dist").toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(dist.resolve("panllama.jar")), dist + " is missing: run scripts/package");
        return new GenericContainer<>(DockerImageName.parse(IMAGE))
                .withFileSystemBind(System.getProperty("java.home"), "/opt/jdk", BindMode.READ_ONLY)
                .withFileSystemBind(dist.toString(), "/opt/panllama", BindMode.READ_ONLY)
                .withFileSystemBind(models.toString(), "/models", BindMode.READ_ONLY)
                .withEnv("JAVA_HOME", "/opt/jdk")
                .withCommand("sleep", "infinity");
    }

    /** Starts {@code container}, or skips the test where the engine cannot run one. */
    static void start(GenericContainer<?> container) {
        try {
            container.start();
        } catch (RuntimeException engineProblem) {
            Assumptions.abort("Docker could not start a container here (" + engineProblem.getMessage()
                    + "): the container test is skipped");
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
