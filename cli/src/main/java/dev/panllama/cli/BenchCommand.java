package dev.panllama.cli;

import dev.panllama.json.JsonWriter;
import dev.panllama.api.LlamaModel;
import dev.panllama.placement.ExpertCacheStatistics;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufTensorInfo;
import dev.panllama.eval.Evaluator;
import dev.panllama.eval.StepTimes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * Prompt processing and generation speed, measured as llama-bench measures them: {@code ppN} evaluates
 * N random tokens, {@code tgN} generates N tokens one at a time, from an empty context or, with
 * {@code -d D}, after D random tokens already in it ({@code tgN @ dD}: decoding speed at that depth);
 * each test runs to warm up (once, and again until {@code --warmup} seconds have passed), then {@code -r}
 * times, the depth's tokens put back before each run
 * and not timed (llama-bench restores a saved state; here the cache is cut back to them, and evaluated
 * again only when the chunked layers have reused cells they need). Beside tokens/s it reports the time
 * per micro-batch that the Java side spends outside ggml's compute (graph building, inputs, logits):
 * with a fast GPU and one-token steps, that share is the runtime's own overhead.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure prompt processing (pp) and generation (tg) speed, as llama-bench does.")
final class BenchCommand extends Subcommand {

    @Mixin
    ModelArgs model;

    @Option(names = {"-p", "--n-prompt"}, split = ",", paramLabel = "N", description = "Prompt lengths to test (default: 512).")
    List<Integer> prompts = List.of(512);

    @Option(names = {"-n", "--n-gen"}, split = ",", paramLabel = "N", description = "Generation lengths to test (default: 128).")
    List<Integer> generations = List.of(128);

    @Option(names = {"-d", "--n-depth"}, split = ",", paramLabel = "N",
            description = "Tokens already in the context when each test starts, as llama-bench's -d (default: 0).")
    List<Integer> depths = List.of(0);

    @Option(names = {"-r", "--repetitions"}, paramLabel = "N", description = "Repetitions of each test (default: 5).")
    int repetitions = 5;

    /*
     * One run warms llama-bench up; a JVM compiles the per-step Java code (inputs, graph building,
     * logits) in its first seconds, on the cores ggml computes with, and a test of a few milliseconds a
     * run timed before that measured the JIT: pp8 of the demo model ran at 0.57x llama-bench after one
     * warm-up run.
     */
    @Option(names = "--warmup", paramLabel = "SECONDS",
            description = "How long each test runs untimed before it is timed: once, and again until SECONDS have passed (default: 2; 0: once, "
                    + "as llama-bench).")
    double warmUpSeconds = 2;

    @Option(names = {"-o", "--output"}, paramLabel = "md|json", description = "Output format (default: md).")
    String output = "md";

    @Option(names = "--token-range", paramLabel = "FROM:TO",
            description = "Draw the tests' random tokens from ids FROM to TO-1 (default: the whole vocabulary): one topic of a model "
                    + "whose routing follows the topic, for measuring the expert cache (scripts/bench-offload --cache).")
    String tokenRange;

    /** One test's timings; {@code experts}: what the expert cache did in its timed runs, empty without a cache. */
    record Result(String test, int nPrompt, int nGen, int nDepth, double[] seconds, StepTimes steps,
                  Optional<ExpertCacheStatistics> experts) {
        double[] tokensPerSecond() {
            int tokens = nPrompt + nGen;
            double[] rates = new double[seconds.length];
            for (int i = 0; i < seconds.length; i++) {
                rates[i] = tokens / seconds[i];
            }
            return rates;
        }
    }

    @Override
    public Integer call() {
        if (!output.equals("md") && !output.equals("json")) {
            throw new IllegalArgumentException("-o must be md or json, not " + output);
        }
        if (!(warmUpSeconds >= 0 && warmUpSeconds <= 3600)) {
            throw new IllegalArgumentException("--warmup must be 0 to 3600 seconds, not " + warmUpSeconds);
        }
        if (repetitions < 1) {
            throw new IllegalArgumentException("-r must be at least 1, not " + repetitions);
        }
        for (int d : depths) {
            if (d < 0) {
                throw new IllegalArgumentException("-d must be 0 or more tokens, not " + d);
            }
        }
        PrintWriter out = out();
        Path file = model.requireModel();
        int longest = 1;
        for (int n : prompts) {
            longest = Math.max(longest, n);
        }
        for (int n : generations) {
            longest = Math.max(longest, n);
        }
        long deepest = longest + (long) depths.stream().mapToInt(Integer::intValue).max().orElse(0) + 1;
        if (deepest > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("-d and the test lengths together pass " + Integer.MAX_VALUE + " tokens");
        }
        if (model.contextLength == 0) {
            // As llama-bench sizes its context: the deepest test and no more.
            model.contextLength = (int) deepest;
        } else if (model.contextLength < deepest) {
            throw new IllegalArgumentException("-c " + model.contextLength + " is too small for the deepest test: it needs " + deepest);
        }
        List<Result> results = new ArrayList<>();
        long parameters = 0;
        long size = 0;
        try (GgufFile gguf = GgufFile.open(file)) {
            for (GgufTensorInfo tensor : gguf.tensors()) {
                parameters += tensor.elementCount();
                size += tensor.byteSize();
            }
        }
        try (LlamaModel llama = model.open(file, err()); Evaluator evaluator = llama.newEvaluator()) {
            Random random = new Random(42);
            int vocab = llama.config().dims().vocabSize();
            int[] range = tokenRange(vocab);
            int from = range[0];
            int to = range[1];
            float[] stepLogits = new float[vocab];   // as a chat's generation reads each step's logits
            for (int depth : depths) {
                int[] context = random.ints(depth, from, to).toArray();
                Runnable toDepth = () -> {
                    if (evaluator.keep(depth) < depth) {
                        evaluator.reset();
                        evaluator.evaluate(context, depth);   // no logits wanted
                    }
                };
                String at = depth > 0 ? " @ d" + depth : "";
                for (int n : prompts) {
                    if (n > 0) {
                        results.add(measure(llama, evaluator, "pp" + n + at, n, 0, depth, toDepth,
                                () -> evaluator.evaluate(random.ints(n, from, to).toArray(), n - 1)));
                    }
                }
                for (int n : generations) {
                    if (n > 0) {
                        results.add(measure(llama, evaluator, "tg" + n + at, 0, n, depth, toDepth, () -> {
                            for (int i = 0; i < n; i++) {
                                evaluator.evaluateNext(random.nextInt(from, to), stepLogits);
                            }
                        }));
                    }
                }
            }
            String type = llama.config().architecture() + " " + llama.metadata().findString("general.name").orElse("");
            String backend = llama.device();
            if (output.equals("json")) {
                out.println(JsonWriter.write(json(results, file, type.trim(), size, parameters, backend, model.options().threads())));
            } else {
                markdown(out, results, type.trim(), size, parameters, backend, model.options().threads());
            }
        }
        return 0;
    }

    /** {@code --token-range} as {@code [from, to)} within a vocabulary of {@code vocab} tokens; the whole vocabulary without it. */
    private int[] tokenRange(int vocab) {
        if (tokenRange == null) {
            return new int[] {0, vocab};
        }
        String[] bounds = tokenRange.split(":", -1);
        try {
            if (bounds.length == 2) {
                int from = Integer.parseInt(bounds[0].trim());
                int to = Integer.parseInt(bounds[1].trim());
                if (from >= 0 && from < to && to <= vocab) {
                    return new int[] {from, to};
                }
            }
        } catch (NumberFormatException e) {
            // told below
        }
        throw new IllegalArgumentException("--token-range must be FROM:TO with 0 <= FROM < TO <= " + vocab + " (the vocabulary), not " + tokenRange);
    }

    /**
     * Runs {@code run} to warm up (at least once, as llama-bench does, and more until {@code --warmup}
     * seconds have passed), then {@code -r} times timed, each after {@code toDepth} (not timed) sets up the context.
     */
    private Result measure(LlamaModel llama, Evaluator evaluator, String test, int nPrompt, int nGen, int nDepth, Runnable toDepth,
                           Runnable run) {
        long warmUpStart = System.nanoTime();
        do {
            toDepth.run();
            run.run();
        } while (System.nanoTime() - warmUpStart < warmUpSeconds * 1e9);
        llama.resetExpertCacheStatistics();
        double[] seconds = new double[repetitions];
        StepTimes steps = StepTimes.NONE;
        for (int i = 0; i < repetitions; i++) {
            toDepth.run();
            evaluator.forgetStepTimes();
            long start = System.nanoTime();
            run.run();
            seconds[i] = Units.secondsSince(start);
            steps = steps.plus(evaluator.stepTimes());
        }
        // Counted over the timed runs and their set-up to the depth, which the cache serves alike.
        return new Result(test, nPrompt, nGen, nDepth, seconds, steps, llama.expertCacheStatistics());
    }

    private static double mean(double[] values) {
        double sum = 0;
        for (double v : values) {
            sum += v;
        }
        return sum / values.length;
    }

    private static double stddev(double[] values) {
        if (values.length < 2) {
            return 0;
        }
        double mean = mean(values);
        double sum = 0;
        for (double v : values) {
            sum += (v - mean) * (v - mean);
        }
        return Math.sqrt(sum / (values.length - 1));
    }

    private static void markdown(PrintWriter out, List<Result> results, String type, long size, long parameters, String backend,
                                 int threads) {
        boolean experts = results.stream().anyMatch(r -> r.experts().isPresent());
        out.println("| model                          |       size |     params | backend    | threads |            test |                  t/s |   host ms/step |"
                + (experts ? " expert hits |" : ""));
        out.println("| ------------------------------ | ---------: | ---------: | ---------- | ------: | --------------: | -------------------: | -------------: |"
                + (experts ? " ----------: |" : ""));
        for (Result r : results) {
            double[] rates = r.tokensPerSecond();
            out.printf("| %-30s | %10s | %10s | %-10s | %7d | %15s | %20s | %14s |%s%n", type, Units.bytes(size),
                    Units.count(parameters), backend, threads, r.test(),
                    Units.spread(mean(rates), stddev(rates)),
                    String.format("%.3f (%.1f%%)", r.steps().hostNanosPerStep() / 1e6, 100 * r.steps().hostFraction()),
                    r.experts().map(e -> String.format(" %10.1f%% |", 100 * e.hitRate())).orElse(experts ? " %11s |".formatted("-") : ""));
        }
        results.stream().filter(r -> r.experts().isPresent()).reduce((first, second) -> second)
                .ifPresent(r -> out.println("\nexpert cache, " + r.test() + ":\n" + r.experts().get().describe()));
    }

    private static List<Object> json(List<Result> results, Path file, String type, long size, long parameters, String backend,
                                     int threads) {
        List<Object> rows = new ArrayList<>();
        for (Result r : results) {
            double[] rates = r.tokensPerSecond();
            List<Long> samplesNs = new ArrayList<>();
            List<Double> samplesTs = new ArrayList<>();
            for (int i = 0; i < r.seconds().length; i++) {
                samplesNs.add((long) (r.seconds()[i] * 1e9));
                samplesTs.add(rates[i]);
            }
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("model_filename", file.toString());
            row.put("model_type", type);
            row.put("model_size", size);
            row.put("model_n_params", parameters);
            row.put("backends", backend);
            row.put("n_threads", threads);
            row.put("n_prompt", r.nPrompt());
            row.put("n_gen", r.nGen());
            row.put("n_depth", r.nDepth());
            row.put("avg_ns", (long) (mean(r.seconds()) * 1e9));
            row.put("stddev_ns", (long) (stddev(r.seconds()) * 1e9));
            row.put("avg_ts", mean(rates));
            row.put("stddev_ts", stddev(rates));
            row.put("samples_ns", samplesNs);
            row.put("samples_ts", samplesTs);
            // panllama's own: the mean time per micro-batch, and the part of it outside ggml's compute.
            row.put("step_ns", (long) r.steps().nanosPerStep());
            row.put("host_ns_per_step", (long) r.steps().hostNanosPerStep());
            row.put("host_fraction", r.steps().hostFraction());
            // Of that host time, building graphs (and ggml's scheduler splitting and allocating them).
            row.put("graph_build_ns_per_step", (long) r.steps().graphBuildNanosPerStep());
            row.put("graphs_per_step", r.steps().graphsPerStep());
            row.put("graphs_built_per_step", r.steps().graphsBuiltPerStep());
            r.experts().ifPresent(e -> {
                row.put("expert_cache_hit_rate", e.hitRate());
                List<Object> layers = new ArrayList<>();
                int[] numbers = e.layers();
                for (int i = 0; i < numbers.length; i++) {
                    Map<String, Object> layer = new LinkedHashMap<>();
                    layer.put("layer", numbers[i]);
                    layer.put("hit_rate", e.hitRate(i));
                    layer.put("hits", e.hits()[i]);
                    layer.put("misses", e.misses()[i]);
                    layer.put("loads", e.loads()[i]);
                    layers.add(layer);
                }
                row.put("expert_cache_layers", layers);
            });
            rows.add(row);
        }
        return rows;
    }
}
