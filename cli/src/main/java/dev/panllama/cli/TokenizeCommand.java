package dev.panllama.cli;

import dev.panllama.json.JsonWriter;
import dev.panllama.gguf.GgufFile;
import dev.panllama.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = "Print the token ids of a text (of -p, -f or standard input) under a model's vocabulary.")
final class TokenizeCommand extends Subcommand {

    @Mixin
    ModelArgs model;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "The text.")
    String prompt;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Read the text from FILE.")
    Path file;

    @Option(names = "--pieces", description = "Print each id with the text it stands for.")
    boolean pieces;

    @Option(names = "--json", description = "Print ids and pieces as JSON.")
    boolean json;

    @Option(names = "--no-bos", description = "Do not add the beginning-of-text token.")
    boolean noBos;

    @Option(names = "--no-parse-special", description = "Treat special-token spellings as plain text.")
    boolean noParseSpecial;

    @Override
    public Integer call() {
        PrintWriter out = out();
        Path modelFile = model.requireModel();
        String text = Prompts.read(prompt, file, System.in);
        Tokenizer tokenizer;
        try (GgufFile gguf = GgufFile.open(modelFile)) {
            tokenizer = Tokenizer.of(gguf.metadata());
        }
        int[] ids = tokenizer.encode(text, !noBos, !noParseSpecial);
        if (json) {
            List<Object> tokens = new ArrayList<>();
            for (int id : ids) {
                Map<String, Object> token = new LinkedHashMap<>();
                token.put("id", id);
                token.put("piece", new String(tokenizer.pieceBytes(id, true), StandardCharsets.UTF_8));
                tokens.add(token);
            }
            out.println(JsonWriter.write(Map.of("tokens", tokens)));
        } else if (pieces) {
            for (int id : ids) {
                out.printf("%6d -> '%s'%n", id, new String(tokenizer.pieceBytes(id, true), StandardCharsets.UTF_8));
            }
        } else {
            StringBuilder line = new StringBuilder("[");
            for (int i = 0; i < ids.length; i++) {
                line.append(i == 0 ? "" : ", ").append(ids[i]);
            }
            out.println(line.append(']'));
        }
        return 0;
    }
}
