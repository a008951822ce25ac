package dev.panllama.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Where a command's text comes from: {@code -p TEXT}, {@code -f FILE}, or standard input. */
final class Prompts {

    private Prompts() {
    }

    static String read(String text, Path file, InputStream stdin) {
        if (text != null && file != null) {
            throw new IllegalArgumentException("give -p or -f, not both");
        }
        if (text != null) {
            return text;
        }
        try {
            if (file != null) {
                InputFile.require(file);
                return Files.readString(file, StandardCharsets.UTF_8);
            }
            return new String(stdin.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the prompt: " + e.getMessage(), e);
        }
    }
}
