package dev.panllama.cli;

import java.nio.file.Files;
import java.nio.file.Path;

/** The check of a file a command reads (a model, a prompt, a schema), before it is opened. */
final class InputFile {

    private InputFile() {
    }

    /** {@code file}, when it is a file that exists; else a usage error saying what is there instead. */
    static Path require(Path file) {
        if (Files.isRegularFile(file)) {
            return file;
        }
        if (Files.isDirectory(file)) {
            throw new IllegalArgumentException(file + ": is a folder, not a file");
        }
        throw new IllegalArgumentException(file + (Files.exists(file) ? ": not a regular file" : ": no such file"));
    }
}
