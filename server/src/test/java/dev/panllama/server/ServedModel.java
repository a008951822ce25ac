package dev.panllama.server;

import dev.panllama.api.LlamaModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

/** The served test model ({@link TestModel}), written and opened once per test class, closed after it. */
abstract class ServedModel {

    @TempDir
    static Path temp;
    static LlamaModel model;

    @BeforeAll
    static void openServedModel() throws IOException {
        model = TestModel.open(temp);
    }

    @AfterAll
    static void closeServedModel() {
        model.close();
    }
}
