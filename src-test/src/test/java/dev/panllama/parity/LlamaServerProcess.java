package dev.panllama.parity;

import dev.panllama.reference.ReferenceMain;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The reference build's llama-server, serving a model on 127.0.0.1 at a free port for a test, its
 * output in a log; started once it answers {@code /health}. Closing stops it.
 */
final class LlamaServerProcess implements AutoCloseable {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private final Process process;
    private final String url;
    private final Path log;

    private LlamaServerProcess(Process process, String url, Path log) {
        this.process = process;
        this.url = url;
        this.log = log;
    }

    /** Starts llama-server on {@code model} with {@code options} (its own flags: -c, -t, ...), its output in {@code log}. */
    static LlamaServerProcess start(Path model, Path log, String... options) throws IOException, InterruptedException {
        Path executable = ReferenceMain.binaries().resolve("llama-server");
        assertTrue(Files.isExecutable(executable), executable + " is missing: run scripts/build-native --reference");
        int port = RpcServerProcess.freePort();
        List<String> command = new ArrayList<>(List.of(executable.toString(), "-m", model.toString(), "--host", "127.0.0.1",
                "--port", String.valueOf(port), "--no-webui"));
        command.addAll(List.of(options));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        LlamaServerProcess server = new LlamaServerProcess(process, "http://127.0.0.1:" + port, log);
        try {
            server.awaitHealthy();
        } catch (AssertionError | IOException | InterruptedException e) {
            server.close();
            throw e;
        }
        return server;
    }

    /** {@code http://127.0.0.1:PORT}. */
    String url() {
        return url;
    }

    private void awaitHealthy() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (true) {
            assertTrue(process.isAlive(), () -> "llama-server exited: " + read(log));
            try {
                if (HTTP.send(HttpRequest.newBuilder(URI.create(url + "/health")).build(), HttpResponse.BodyHandlers.ofString())
                        .statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            assertTrue(System.nanoTime() < deadline, () -> "llama-server never became healthy: " + read(log));
            Thread.sleep(100);
        }
    }

    private static String read(Path log) {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor();
        }
    }
}
