package dev.panllama.model;

import java.util.List;

/** The GGUF holds a model of an architecture panllama does not implement. */
public final class UnsupportedArchitectureException extends RuntimeException {
    public UnsupportedArchitectureException(String architecture, List<String> supported) {
        super("unsupported model architecture '" + architecture + "'; panllama supports: " + String.join(", ", supported));
    }
}
