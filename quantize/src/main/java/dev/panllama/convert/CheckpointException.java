package dev.panllama.convert;

/** A Hugging Face checkpoint panllama cannot convert: a missing or malformed file, a shape config.json contradicts. */
public final class CheckpointException extends RuntimeException {

    public CheckpointException(String message) {
        super(message);
    }
}
