package dev.panllama.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Prints the scripts' comparison table: tokens/s of llama-bench and of panllama bench for each test,
 * read from their JSON outputs, the ratio panllama / llama.cpp, and panllama's time per micro-batch
 * outside ggml's compute (its own overhead), where its output has it.
 */
final class BenchReport {

    private static final Pattern OBJECT = Pattern.compile("\\{[^{}]*\\}");

    private BenchReport() {
    }

    /** One test's row: mean tokens/s, and panllama's host time per step and its share when reported. */
    record Row(double tokensPerSecond, Optional<Double> hostNanosPerStep, Optional<Double> hostFraction) {
    }

    /** Test name (pp512, tg128, and tg128 @ d8192 at a depth as llama-bench names it) to its row, from a llama-bench style JSON array. */
    static Map<String, Row> read(Path json) throws IOException {
        Map<String, Row> rows = new LinkedHashMap<>();
        Matcher object = OBJECT.matcher(Files.readString(json));
        while (object.find()) {
            String row = object.group();
            long prompt = number(row, "n_prompt").orElseThrow(() -> missing("n_prompt", row)).longValue();
            long gen = number(row, "n_gen").orElseThrow(() -> missing("n_gen", row)).longValue();
            long depth = number(row, "n_depth").orElse(0.0).longValue();
            rows.put((prompt > 0 ? "pp" + prompt : "tg" + gen) + (depth > 0 ? " @ d" + depth : ""),
                    new Row(number(row, "avg_ts").orElseThrow(() -> missing("avg_ts", row)),
                            number(row, "host_ns_per_step"), number(row, "host_fraction")));
        }
        return rows;
    }

    /** The model as the first row gives it: its file's name and its size. */
    static String model(Path json) throws IOException {
        Matcher object = OBJECT.matcher(Files.readString(json));
        if (!object.find()) {
            return "?";
        }
        Matcher file = Pattern.compile("\"model_filename\"\\s*:\\s*\"([^\"]*)\"").matcher(object.group());
        String name = file.find() ? Path.of(file.group(1)).getFileName().toString() : "?";
        return name + ", " + Units.bytes(number(object.group(), "model_size").map(Double::longValue).orElse(0L));
    }

    private static IllegalArgumentException missing(String field, String row) {
        return new IllegalArgumentException("no " + field + " in " + row);
    }

    private static Optional<Double> number(String row, String field) {
        Matcher value = Pattern.compile("\"" + field + "\"\\s*:\\s*([-0-9.eE+]+)").matcher(row);
        return value.find() ? Optional.of(Double.parseDouble(value.group(1))) : Optional.empty();
    }

    /** Arguments: llama-bench's JSON, panllama's, the threads, and optionally the configuration's name. */
    public static void main(String[] args) throws IOException {
        Map<String, Row> reference = read(Path.of(args[0]));
        Map<String, Row> panllama = read(Path.of(args[1]));
        System.out.printf("threads: %s, model: %s%s%n%n", args[2], model(Path.of(args[1])), args.length > 3 ? ", " + args[3] : "");
        System.out.println("| test | llama.cpp t/s | panllama t/s | ratio | panllama host ms/step |");
        System.out.println("| ---- | ------------: | -----------: | ----: | --------------------: |");
        reference.forEach((test, row) -> {
            Row ours = panllama.get(test);
            String host = ours == null || ours.hostNanosPerStep().isEmpty() ? "-"
                    : String.format("%.3f (%.1f%%)", ours.hostNanosPerStep().get() / 1e6, 100 * ours.hostFraction().orElse(0.0));
            System.out.printf("| %s | %.2f | %s | %s | %s |%n", test, row.tokensPerSecond(),
                    ours == null ? "-" : String.format("%.2f", ours.tokensPerSecond()),
                    ours == null ? "-" : String.format("%.3f", ours.tokensPerSecond() / row.tokensPerSecond()), host);
        });
    }
}
