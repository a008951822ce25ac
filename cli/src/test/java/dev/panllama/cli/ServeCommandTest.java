package dev.panllama.cli;

import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code panllama serve}: its options checked before anything loads, then a server that answers until stopped. */
class ServeCommandTest {

    @TempDir
    Path temp;

    @Test
    void withoutAModelOrWithABadOrTakenPortItSaysSoInOneLine() throws Exception {
        StringWriter err = new StringWriter();
        assertEquals(2, Panllama.run(new String[] {"serve"}, new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
        assertTrue(err.toString().contains("no model given"), err.toString());

        Path file = writeModel();
        err = new StringWriter();
        assertEquals(2, Panllama.run(new String[] {"serve", "-m", file.toString(), "--port", "70000"},
                new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
        assertTrue(err.toString().contains("--port must be within [0, 65535]"), err.toString());
        assertFalse(err.toString().contains("\tat "), err.toString());

        Path broken = Files.writeString(temp.resolve("broken.jinja"), "{% for message in messages %}{{ message.content }}");
        err = new StringWriter();
        assertEquals(2, Panllama.run(new String[] {"serve", "-m", file.toString(), "--port", "0", "--chat-template-file", broken.toString()},
                new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
        assertTrue(err.toString().contains("panllama: the chat template " + broken + " cannot lay out a conversation"), err.toString());
        err = new StringWriter();
        assertEquals(2, Panllama.run(new String[] {"serve", "-m", file.toString(), "--chat-template-file", broken.toString(),
                "--chat-format", "chatml"}, new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
        assertTrue(err.toString().contains("give one"), err.toString());

        for (String kwargs : List.of("{\"enable_thinking\": fals", "[1]")) {
            err = new StringWriter();
            assertEquals(2, Panllama.run(new String[] {"serve", "-m", file.toString(), "--chat-template-kwargs", kwargs},
                    new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
            assertTrue(err.toString().startsWith("panllama: --chat-template-kwargs "), err.toString());
            assertFalse(err.toString().contains("loaded") || err.toString().contains("\tat "), err.toString());
        }

        err = new StringWriter();
        assertEquals(2, Panllama.run(new String[] {"serve", "-m", file.toString(), "--reasoning-format", "sideways"},
                new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
        assertTrue(err.toString().startsWith("panllama: unknown reasoning format 'sideways'"), err.toString());

        err = new StringWriter();
        assertEquals(2, Panllama.run(new String[] {"serve", "-m", file.toString(), "--reasoning-budget", "-2"},
                new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
        assertTrue(err.toString().startsWith("panllama: --reasoning-budget must be -1 (unbounded), 0 or more, not -2"), err.toString());

        err = new StringWriter();
        assertEquals(2, Panllama.run(new String[] {"serve", "-m", file.toString(), "--cors-origins", "https://app.example/chat"},
                new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
        assertTrue(err.toString().startsWith("panllama: --cors-origins takes origins such as"), err.toString());

        // A key file that cannot be read, or holds no key, must not leave the server open to all.
        Path comments = Files.writeString(temp.resolve("keys.txt"), "# no key yet\n\n");
        for (Path keys : List.of(temp.resolve("missing.txt"), comments)) {
            err = new StringWriter();
            assertEquals(2, Panllama.run(new String[] {"serve", "-m", file.toString(), "--api-key-file", keys.toString()},
                    new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
            assertTrue(err.toString().startsWith("panllama: --api-key-file " + keys), err.toString());
            assertFalse(err.toString().contains("loaded"), err.toString());
        }

        err = new StringWriter();
        assertEquals(2, Panllama.run(new String[] {"serve", "-m", file.toString(), "--slot-save-path", temp.resolve("absent").toString()},
                new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
        assertTrue(err.toString().startsWith("panllama: --slot-save-path must be a folder that exists"), err.toString());
        assertFalse(Files.exists(temp.resolve("absent")), "the folder is not made: a misspelt path would otherwise fill a new one");

        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            err = new StringWriter();
            assertEquals(1, Panllama.run(new String[] {"serve", "-m", file.toString(), "--port", String.valueOf(taken.getLocalPort())},
                    new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
            assertTrue(err.toString().startsWith("panllama: cannot listen on 127.0.0.1:" + taken.getLocalPort()), err.toString());
            assertFalse(err.toString().contains("loaded"), "the address is checked before the model loads: " + err);
        }
    }

    @Test
    void servesTheModelUntilInterrupted() throws Exception {
        Path file = writeModel();
        StringWriter err = new StringWriter();
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        Path template = Files.writeString(temp.resolve("turns.jinja"),
                "{% for message in messages %}[{{ message.role }}] {{ message.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}"
                        + "{% if mood is defined %} ({{ mood }}){% endif %}{% if reasoning_strength is defined %} {{ reasoning_strength }}{% endif %}"
                        + "{% if clear_thinking %}, forgetful{% endif %}");
        Path keys = Files.writeString(temp.resolve("keys.txt"), "# the team's key\nfrom-file\n");
        Thread serving = Thread.ofPlatform().start(() -> exit.complete(Panllama.run(new String[] {"serve", "-m", file.toString(),
                "--port", "0", "-t", "2", "-c", "512", "--alias", "tiny", "--api-key", "k", "--api-key-file", keys.toString(),
                "--chat-template-file", template.toString(),
                "--chat-template-kwargs", "{\"mood\": \"calm\"}", "--reasoning-effort", "high", "--no-reasoning-preserve"},
                new PrintWriter(new StringWriter()), new PrintWriter(err, true))));
        Pattern listening = Pattern.compile("serving tiny at http://127\\.0\\.0\\.1:(\\d+)/v1");
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        Matcher found = listening.matcher(err.toString());
        while (!found.find()) {
            assertFalse(exit.isDone(), err.toString());
            assertTrue(System.nanoTime() < deadline, err.toString());
            Thread.sleep(50);
            found = listening.matcher(err.toString());
        }
        String base = "http://127.0.0.1:" + found.group(1);
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> reply = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .header("Authorization", "Bearer k")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":3}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, reply.statusCode(), reply.body());
        assertTrue(reply.body().contains("\"completion_tokens\":3"), reply.body());
        for (String key : List.of("from-file", "# the team's key")) {
            assertEquals(key.startsWith("#") ? 401 : 200, http.send(HttpRequest.newBuilder(URI.create(base + "/v1/models"))
                    .header("Authorization", "Bearer " + key).build(), HttpResponse.BodyHandlers.ofString()).statusCode(), key);
        }
        HttpResponse<String> prompt = http.send(HttpRequest.newBuilder(URI.create(base + "/apply-template"))
                .header("Authorization", "Bearer k")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals("{\"prompt\":\"[user] Hi\\n[assistant] (calm) high, forgetful\"}", prompt.body(),
                "the file's template lays out the chats, given the kwargs, the reasoning effort and the reasoning not kept");
        HttpResponse<String> overridden = http.send(HttpRequest.newBuilder(URI.create(base + "/apply-template"))
                .header("Authorization", "Bearer k")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                        + "\"chat_template_kwargs\":{\"mood\":\"glad\"}}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals("{\"prompt\":\"[user] Hi\\n[assistant] (glad) high, forgetful\"}", overridden.body(), "a request's kwargs over the server's");

        serving.interrupt();
        assertEquals(0, exit.get(60, TimeUnit.SECONDS), err.toString());
        assertTrue(http.sendAsync(HttpRequest.newBuilder(URI.create(base + "/health")).build(), HttpResponse.BodyHandlers.ofString())
                .handle((response, failure) -> failure != null).get(30, TimeUnit.SECONDS), "still listening after it stopped");
    }

    private Path writeModel() throws Exception {
        Path file = temp.resolve("tiny.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 5).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), file);
        return file;
    }
}
