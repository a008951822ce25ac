package dev.panllama.server;

import dev.panllama.api.LlamaModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

/**
 * What the tests that drive the server with a real client share: the served test model, opened once
 * per test class, and its greedy reply through the facade, which the client's reply must equal.
 */
abstract class ClientComparison {

    @TempDir
    static Path temp;
    static LlamaModel model;
    static String expected;

    @BeforeAll
    static void openModel() throws IOException {
        model = TestModel.open(temp);
        expected = TestModel.facadeReply(model);
    }

    @AfterAll
    static void closeModel() {
        model.close();
    }

    /**
     * A server of its own for each greedy comparison (its cache holds nothing another request left),
     * requiring {@code apiKey} unless it is null.
     */
    static OpenAiServer start(String apiKey) {
        ServerOptions options = ServerOptions.defaults(TestModel.ID).withPort(0);
        return OpenAiServer.start(model, apiKey == null ? options : options.withApiKey(apiKey));
    }
}
