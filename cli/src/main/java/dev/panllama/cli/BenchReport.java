package dev.panllama.cli;

import dev.panllama.json.JsonReader;
import dev.panllama.script.ScriptMain;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Prints the scripts' comparison table: tokens/s of llama-bench and of panllama bench for each test,
 * read from their JSON outputs, the ratio panllama / llama.cpp, and panllama's time per micro-batch
 * outside ggml's compute (its own overhead), where its output has it.
 */
final class BenchReport {

    private BenchReport() {
    }

    /**
     * One test's row: mean tokens/s; panllama's host time per step and its share, and its expert cache's
     * hit rate, when reported.
     */
    record Row(double tokensPerSecond, Optional<Double> hostNanosPerStep, Optional<Double> hostFraction,
               Optional<Double> expertHitRate) {
    }

    /** Test name (pp512, tg128, and tg128 @ d8192 at a depth as llama-bench names it) to its row, from a llama-bench style JSON array. */
    static Map<String, Row> read(Path json) throws IOException {
        Map<String, Row> rows = new LinkedHashMap<>();
        for (Map<?, ?> row : objects(json)) {
            long prompt = number(row, "n_prompt").orElseThrow(() -> missing("n_prompt", json)).longValue();
            long gen = number(row, "n_gen").orElseThrow(() -> missing("n_gen", json)).longValue();
            long depth = number(row, "n_depth").orElse(0.0).longValue();
            rows.put((prompt > 0 ? "pp" + prompt : "tg" + gen) + (depth > 0 ? " @ d" + depth : ""),
                    new Row(number(row, "avg_ts").orElseThrow(() -> missing("avg_ts", json)),
                            number(row, "host_ns_per_step"), number(row, "host_fraction"), number(row, "expert_cache_hit_rate")));
        }
        return rows;
    }

    /** The model as the first row gives it: its file's name and its size. */
    static String model(Path json) throws IOException {
        List<Map<?, ?>> rows = objects(json);
        if (rows.isEmpty()) {
            return "?";
        }
        Object file = rows.getFirst().get("model_filename");
        String name = file instanceof String path ? Path.of(path).getFileName().toString() : "?";
        return name + ", " + Units.bytes(number(rows.getFirst(), "model_size").map(Double::longValue).orElse(0L));
    }

    /**
     * The rows of the JSON arrays of objects in {@code json}, as llama-bench and panllama bench write them:
     * one array, or several one after another ({@code scripts/bench-context} appends one per depth).
     */
    private static List<Map<?, ?>> objects(Path json) throws IOException {
        List<Map<?, ?>> rows = new ArrayList<>();
        for (Object value : JsonReader.parseAll(Files.readString(json), "")) {
            if (!(value instanceof List<?> array)) {
                throw new IllegalArgumentException(json + " holds a JSON value that is not an array");
            }
            for (Object element : array) {
                if (element instanceof Map<?, ?> row) {
                    rows.add(row);
                }
            }
        }
        return rows;
    }

    private static IllegalArgumentException missing(String field, Path json) {
        return new IllegalArgumentException("no " + field + " in a row of " + json);
    }

    private static Optional<Double> number(Map<?, ?> row, String field) {
        return row.get(field) instanceof Number value ? Optional.of(value.doubleValue()) : Optional.empty();
    }

    /** Arguments: llama-bench's JSON, panllama's, the threads, and optionally the configuration's name. */
    public static void main(String[] args) {
        ScriptMain.run("BenchReport LLAMA_BENCH.json PANLLAMA.json THREADS [NOTE]", 3, args, BenchReport::print);
    }

    private static void print(String[] args) throws IOException {
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
