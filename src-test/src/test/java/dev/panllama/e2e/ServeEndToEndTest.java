package dev.panllama.e2e;

import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code panllama serve} from the packaged jar, in a process of its own: the server's libraries are
 * in the jar and log where they should, it answers, and a SIGTERM stops it cleanly.
 */
class ServeEndToEndTest {

    @TempDir
    Path temp;

    @Test
    void servesFromTheJarAndStopsOnSigterm() throws Exception {
        Path model = temp.resolve("serve.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 78).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), model);
        Path err = temp.resolve("err.txt");
        Process process = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-jar", PanllamaProcess.jar().toString(),
                "serve", "-m", model.toString(), "--port", "0", "-t", "2", "-c", "512"))
                .redirectOutput(temp.resolve("out.txt").toFile()).redirectError(err.toFile()).start();
        try {
            Pattern serving = Pattern.compile("serving serve at (http://127\\.0\\.0\\.1:\\d+)/v1");
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            Matcher found = serving.matcher(Files.readString(err));
            while (!found.find()) {
                assertTrue(process.isAlive(), Files.readString(err));
                assertTrue(System.nanoTime() < deadline, "never served: " + Files.readString(err));
                Thread.sleep(100);
                found = serving.matcher(Files.readString(err));
            }
            String base = found.group(1);
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> reply = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":3}"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, reply.statusCode(), reply.body());
            assertTrue(reply.body().contains("\"model\":\"serve\""), reply.body());
            HttpResponse<String> bad = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(400, bad.statusCode(), bad.body());
            assertTrue(bad.body().startsWith("{\"error\":{\"message\":"), bad.body());
        } finally {
            process.destroy();
            assertTrue(process.waitFor(60, TimeUnit.SECONDS), "still running after SIGTERM");
        }
        String log = Files.readString(err);
        assertFalse(log.contains("SLF4J"), "Jetty's logging is wired in the jar: " + log);
        assertFalse(log.contains("\tat "), "no stack trace: " + log);
    }
}
