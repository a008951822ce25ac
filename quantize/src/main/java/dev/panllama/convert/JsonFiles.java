package dev.panllama.convert;

import dev.panllama.json.JsonReader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** A checkpoint's JSON files (config, index, tokenizer), read whole; a malformed one is a CheckpointException naming it. */
final class JsonFiles {

    private JsonFiles() {
    }

    /** The file's top-level object. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> readObject(Path file) throws IOException {
        Object parsed;
        try {
            parsed = JsonReader.parse(Files.readString(file));
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file + ": " + e.getMessage());
        }
        if (parsed instanceof Map<?, ?> map) {
            return (Map<String, Object>) map;
        }
        throw new CheckpointException(file + " is not a JSON object");
    }
}
