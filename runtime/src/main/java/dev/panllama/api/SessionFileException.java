package dev.panllama.api;

/**
 * A session file that cannot be loaded: not a session, truncated, damaged, saved with another model
 * or another ggml pin, or too large for this context. The message names the file and what differs.
 */
public final class SessionFileException extends IllegalArgumentException {

    public SessionFileException(String message) {
        super(message);
    }

    public SessionFileException(String message, Throwable cause) {
        super(message, cause);
    }
}
