package dev.panllama.bindings;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committed bindings were generated from exactly the pinned headers: when the pin moves and
 * nobody ran scripts/regenerate-bindings, the recorded hashes no longer match and this fails.
 */
class BindingsMatchPinnedHeadersTest {

    private static final Path RECORDED = Path.of("jextract", "headers.sha256");

    @Test
    void recordedHeaderHashesMatchThePinnedSource() throws IOException {
        Path include = UserCache.user().source(NativePin.current()).resolve("ggml").resolve("include");
        assertTrue(Files.isDirectory(include), "the pinned source is not unpacked at " + include + "; run scripts/build-native");

        List<String> lines = Files.readAllLines(RECORDED).stream().filter(l -> !l.isBlank()).toList();
        assertFalse(lines.isEmpty(), RECORDED + " lists no headers");
        for (String line : lines) {
            String[] fields = line.split("\\s+", 2);
            byte[] header = Files.readAllBytes(include.resolve(fields[1]));
            assertEquals(fields[0], NativeLibraries.sha256(header),
                    fields[1] + " changed since the bindings were generated: run scripts/regenerate-bindings");
        }
    }

    @Test
    void everyHeaderOfTheUmbrellaIsRecorded() throws IOException {
        List<String> included = Files.readAllLines(Path.of("jextract", "ggml-all.h")).stream()
                .filter(l -> l.startsWith("#include \""))
                .map(l -> l.substring("#include \"".length(), l.length() - 1))
                .toList();
        List<String> recorded = Files.readAllLines(RECORDED).stream()
                .filter(l -> !l.isBlank()).map(l -> l.split("\\s+", 2)[1]).toList();
        assertEquals(included, recorded);
    }
}
