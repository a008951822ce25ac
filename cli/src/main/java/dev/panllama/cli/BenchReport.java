package dev.panllama.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Prints scripts/bench's table: tokens/s of llama-bench and of panllama bench for each test, read
 * from their JSON outputs, and the ratio panllama / llama.cpp.
 */
final class BenchReport {

    private static final Pattern OBJECT = Pattern.compile("\\{[^{}]*\\}");

    private BenchReport() {
    }

    /** Test name (pp512, tg128) to average tokens/s, from a llama-bench style JSON array. */
    static Map<String, Double> read(Path json) throws IOException {
        Map<String, Double> rates = new LinkedHashMap<>();
        Matcher object = OBJECT.matcher(Files.readString(json));
        while (object.find()) {
            String row = object.group();
            long prompt = number(row, "n_prompt").longValue();
            long gen = number(row, "n_gen").longValue();
            rates.put(prompt > 0 ? "pp" + prompt : "tg" + gen, number(row, "avg_ts").doubleValue());
        }
        return rates;
    }

    private static Number number(String row, String field) {
        Matcher value = Pattern.compile("\"" + field + "\"\\s*:\\s*([-0-9.eE+]+)").matcher(row);
        if (!value.find()) {
            throw new IllegalArgumentException("no " + field + " in " + row);
        }
        return Double.parseDouble(value.group(1));
    }

    public static void main(String[] args) throws IOException {
        Map<String, Double> reference = read(Path.of(args[0]));
        Map<String, Double> panllama = read(Path.of(args[1]));
        // An optional fourth argument names the configuration (scripts/bench-offload runs several).
        System.out.printf("threads: %s, model: Llama 4 MoE ~700M parameters, Q4_K_M%s%n%n", args[2], args.length > 3 ? ", " + args[3] : "");
        System.out.println("| test | llama.cpp t/s | panllama t/s | ratio |");
        System.out.println("| ---- | ------------: | -----------: | ----: |");
        reference.forEach((test, rate) -> {
            Double ours = panllama.get(test);
            System.out.printf("| %s | %.2f | %s | %s |%n", test, rate, ours == null ? "-" : String.format("%.2f", ours),
                    ours == null ? "-" : String.format("%.3f", ours / rate));
        });
    }
}
