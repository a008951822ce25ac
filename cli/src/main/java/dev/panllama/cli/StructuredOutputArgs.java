package dev.panllama.cli;

import dev.panllama.api.GenerationOptions;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Structured output: the text must be a JSON document of a schema, or any JSON object. */
final class StructuredOutputArgs {

    @Option(names = "--json-schema", paramLabel = "FILE",
            description = "Only output a JSON document that the JSON schema in FILE accepts; generation ends when it is whole.")
    Path schemaFile;

    @Option(names = "--json-object", description = "Only output a JSON object; generation ends when it is whole.")
    boolean anyObject;

    /**
     * {@code options} with the structured output asked for, checked before any model is opened.
     *
     * @throws IllegalArgumentException the schema file is missing, not JSON, or uses what is not supported
     */
    GenerationOptions apply(GenerationOptions options) {
        if (schemaFile != null && anyObject) {
            throw new IllegalArgumentException("give --json-schema or --json-object, not both");
        }
        if (anyObject) {
            return options.withJsonObject();
        }
        if (schemaFile == null) {
            return options;
        }
        InputFile.require(schemaFile);
        String schema;
        try {
            schema = Files.readString(schemaFile, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the JSON schema " + schemaFile + ": " + e.getMessage(), e);
        }
        try {
            return options.withJsonSchema(schema);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(schemaFile + ": " + e.getMessage(), e);
        }
    }
}
