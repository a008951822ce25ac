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

    @Option(names = {"-j", "--json-schema"}, paramLabel = "SCHEMA|FILE",
            description = "Only output a JSON document that this JSON schema accepts (llama.cpp's: the schema itself, "
                    + "or a FILE holding it); generation ends when it is whole.")
    String schema;

    @Option(names = {"-jf", "--json-schema-file"}, paramLabel = "FILE", description = "As --json-schema, with the schema read from FILE.")
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
        int given = (schema != null ? 1 : 0) + (schemaFile != null ? 1 : 0) + (anyObject ? 1 : 0) + (grammar != null ? 1 : 0)
                + (grammarFile != null ? 1 : 0);
        if (given > 1) {
            throw new IllegalArgumentException("give one of --json-schema, --json-schema-file, --json-object, --grammar and --grammar-file");
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
        if (schema != null && schema.strip().startsWith("{")) {
            try {
                return options.withJsonSchema(schema);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--json-schema: " + e.getMessage(), e);
            }
        }
        // A --json-schema that is no JSON object names a file, as panllama's --json-schema did before it took llama.cpp's.
        Path file = schema != null ? Path.of(schema) : schemaFile;
        if (file == null) {
            return options;
        }
        try {
            return options.withJsonSchema(read(file, "JSON schema"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
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
