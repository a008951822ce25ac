package dev.panllama.cli;

import dev.panllama.api.GenerationOptions;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Structured output: the text must be a JSON document of a schema, any JSON object, or a text of a GBNF grammar. */
final class StructuredOutputArgs {

    @Option(names = "--json-schema", paramLabel = "FILE",
            description = "Only output a JSON document that the JSON schema in FILE accepts; generation ends when it is whole.")
    Path schemaFile;

    @Option(names = "--json-object", description = "Only output a JSON object; generation ends when it is whole.")
    boolean anyObject;

    @Option(names = "--grammar", paramLabel = "GBNF",
            description = "Only output text of this GBNF grammar (llama.cpp's), from its root rule.")
    String grammar;

    @Option(names = "--grammar-file", paramLabel = "FILE", description = "As --grammar, with the grammar read from FILE.")
    Path grammarFile;

    /**
     * {@code options} with the structured output asked for, checked before any model is opened.
     *
     * @throws IllegalArgumentException the schema file is missing, not JSON, or uses what is not supported
     */
    GenerationOptions apply(GenerationOptions options) {
        int given = (schemaFile != null ? 1 : 0) + (anyObject ? 1 : 0) + (grammar != null ? 1 : 0) + (grammarFile != null ? 1 : 0);
        if (given > 1) {
            throw new IllegalArgumentException("give one of --json-schema, --json-object, --grammar and --grammar-file");
        }
        if (anyObject) {
            return options.withJsonObject();
        }
        if (grammar != null) {
            try {
                return options.withGrammar(grammar);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--grammar: " + e.getMessage(), e);
            }
        }
        if (grammarFile != null) {
            try {
                return options.withGrammar(read(grammarFile, "grammar"));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(grammarFile + ": " + e.getMessage(), e);
            }
        }
        if (schemaFile == null) {
            return options;
        }
        String schema = read(schemaFile, "JSON schema");
        try {
            return options.withJsonSchema(schema);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(schemaFile + ": " + e.getMessage(), e);
        }
    }

    private static String read(Path file, String what) {
        InputFile.require(file);
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the " + what + " " + file + ": " + e.getMessage(), e);
        }
    }
}
