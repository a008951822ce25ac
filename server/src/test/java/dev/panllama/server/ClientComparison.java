package dev.panllama.server;

import org.junit.jupiter.api.BeforeAll;


/**
 * What the tests that drive the server with a real client share: the served test model, opened once
 * per test class, and its greedy reply through the facade, which the client's reply must equal.
 */
abstract class ClientComparison extends ServedModel {

    static String expected;

    @BeforeAll
    static void replyThroughTheFacade() {
        expected = TestModel.facadeReply(model);
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
