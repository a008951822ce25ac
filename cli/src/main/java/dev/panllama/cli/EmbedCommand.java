package dev.panllama.cli;

import dev.panllama.api.Embedder;
import dev.panllama.api.LlamaModel;
import dev.panllama.json.JsonWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * llama.cpp's {@code llama-embedding}: the embedding of each text, its hidden states pooled
 * ({@code --pooling}) and normalized ({@code --embd-normalize}), one line of numbers a text, or OpenAI's
 * JSON with {@code --json}.
 */
@Command(name = "embed", mixinStandardHelpOptions = true,
        description = "Print the embedding of each text: of each -p, else each line of -f or standard input.")
final class EmbedCommand extends Subcommand {

    @Mixin
    ModelArgs model;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "A text to embed (repeatable).")
    List<String> prompts = new ArrayList<>();

    @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Embed each line of FILE that is not blank.")
    Path file;

    @Option(names = "--pooling", paramLabel = "TYPE", description = "How a text's hidden states become one vector: mean, cls or last (default: mean).")
    String pooling = "mean";

    @Option(names = "--embd-normalize", paramLabel = "N",
            description = "-1 none, 0 largest magnitude to 32760, 1 taxicab, 2 Euclidean (default), p > 2 the p-norm.")
    int normalize = Embedder.EUCLIDEAN;

    @Option(names = "--json", description = "Print OpenAI's embeddings JSON.")
    boolean json;

    @Override
    public Integer call() {
        PrintWriter out = out();
        Path modelFile = model.requireModel();
        Embedder.Pooling kind = Embedder.Pooling.of(pooling);
        if (normalize < -1) {
            throw new IllegalArgumentException("--embd-normalize must be -1 or more, not " + normalize);
        }
        if (!prompts.isEmpty() && file != null) {
            throw new IllegalArgumentException("give -p or -f, not both");
        }
        List<String> texts = new ArrayList<>(prompts);
        if (texts.isEmpty()) {
            for (String line : Prompts.read(null, file, System.in).split("\\R")) {
                if (!line.isBlank()) {
                    texts.add(line);
                }
            }
        }
        if (texts.isEmpty()) {
            throw new IllegalArgumentException("there is no text to embed: give -p TEXT, or lines of text in -f FILE or on standard input");
        }
        try (LlamaModel llama = model.open(modelFile, err()); Embedder embedder = llama.newEmbedder(kind, 4)) {
            List<float[]> vectors = embedder.embed(texts, normalize);
            if (json) {
                List<Object> data = new ArrayList<>();
                for (int i = 0; i < vectors.size(); i++) {
                    Map<String, Object> entry = new LinkedHashMap<>();
                    entry.put("object", "embedding");
                    entry.put("index", i);
                    entry.put("embedding", vectors.get(i));
                    data.add(entry);
                }
                out.println(JsonWriter.write(Map.of("object", "list", "data", data)));
            } else {
                for (float[] vector : vectors) {
                    StringBuilder line = new StringBuilder();
                    for (float x : vector) {
                        line.append(line.isEmpty() ? "" : " ").append(x);
                    }
                    out.println(line);
                }
            }
        }
        return 0;
    }
}
