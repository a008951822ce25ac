package dev.panllama.gguf;

import java.nio.file.Path;

/**
 * A GGUF file that cannot be used: malformed, truncated, hostile, or lacking what the caller needs.
 * Where the problem sits at a byte of the file, the message names that offset.
 */
public final class GgufException extends RuntimeException {

    public GgufException(String message) {
        super(message);
    }

    public GgufException(String message, Throwable cause) {
        super(message, cause);
    }

    static GgufException at(Path file, long offset, String problem) {
        return new GgufException(file + ": " + problem + " (at byte " + offset + ")");
    }
}
