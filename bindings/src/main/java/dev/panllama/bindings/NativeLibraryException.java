package dev.panllama.bindings;

/** The ggml libraries could not be found or loaded; the message says where panllama looked and what to run. */
public final class NativeLibraryException extends RuntimeException {
    public NativeLibraryException(String message) {
        super(message);
    }

    public NativeLibraryException(String message, Throwable cause) {
        super(message, cause);
    }
}
