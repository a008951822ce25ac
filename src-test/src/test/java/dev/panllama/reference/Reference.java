package dev.panllama.reference;

import dev.panllama.eval.BatchEvaluator;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.GraphNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Runs llama.cpp's libllama from the reference build ({@code scripts/build-native --reference}) in a
 * child JVM through {@link ReferenceMain}, with the settings a parity test names.
 */
public final class Reference {

    /**
     * The settings both sides must share for a comparison to mean anything. {@code exact}: keys and values
     * kept in F32 and attention without flash attention (whose CPU kernel rounds through F16), for
     * comparisons finer than F16's precision; otherwise a cache of {@code keyType} keys and {@code valueType}
     * values (llama.cpp's {@code -ctk}, {@code -ctv}; F16 by default) and flash attention, as llama.cpp
     * runs by default.
     */
    public record Settings(int ubatch, int threads, int contextLength, boolean exact, Offloading offloading,
                           GgmlType keyType, GgmlType valueType, boolean headRotation) {
        public Settings {
            if (exact && (keyType != GgmlType.F16 || valueType != GgmlType.F16)) {
                throw new IllegalArgumentException("an exact run keeps F32 keys and values: it takes no cache types");
            }
        }

        public Settings(int ubatch, int threads, int contextLength, boolean exact) {
            this(ubatch, threads, contextLength, exact, Offloading.NONE, GgmlType.F16, GgmlType.F16, true);
        }

        public Settings(int ubatch, int threads, int contextLength) {
            this(ubatch, threads, contextLength, false);
        }

        public Settings with(Offloading value) {
            return new Settings(ubatch, threads, contextLength, exact, value, keyType, valueType, headRotation);
        }

        /** These settings with a cache of {@code keys} keys and {@code values} values (flash attention, not exact). */
        public Settings withCacheTypes(GgmlType keys, GgmlType values) {
            return new Settings(ubatch, threads, contextLength, false, offloading, keys, values, headRotation);
        }

        /**
         * These settings with libllama's rotation of a quantized cache's heads turned off
         * ({@code LLAMA_ATTN_ROT_DISABLE}; it is on by default, as in llama.cpp's tools): to show that a
         * result depends on the rotation.
         */
        public Settings withoutHeadRotation() {
            return new Settings(ubatch, threads, contextLength, exact, offloading, keyType, valueType, false);
        }

        /** The cache as {@link ReferenceMain} takes it: {@code exact}, or the key and value types. */
        String cache() {
            return exact ? "exact" : keyType.name().toLowerCase(Locale.ROOT) + "," + valueType.name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * llama.cpp's own offloading options, as its tools take them: {@code --rpc} servers (registered as
     * common/arg.cpp does), {@code -ngl} (negative: llama.cpp's default, all layers), {@code -ot}
     * overrides as {@code PATTERN=BUFFER}, {@code --cpu-moe}, {@code --n-cpu-moe}, in that order of precedence,
     * and {@code -ts} (empty: by free memory).
     */
    public record Offloading(List<String> rpc, int gpuLayers, List<String> overrides, boolean cpuMoe, int cpuMoeLayers,
                             List<Double> tensorSplit) {
        public static final Offloading NONE = new Offloading(List.of(), -1, List.of(), false, 0);

        /** Without {@code -ts}: several devices share the layers by free memory. */
        public Offloading(List<String> rpc, int gpuLayers, List<String> overrides, boolean cpuMoe, int cpuMoeLayers) {
            this(rpc, gpuLayers, overrides, cpuMoe, cpuMoeLayers, List.of());
        }

        List<String> arguments() {
            List<String> args = new ArrayList<>();
            if (!rpc.isEmpty()) {
                args.add("--rpc=" + String.join(",", rpc));
            }
            args.add("--ngl=" + gpuLayers);
            overrides.forEach(o -> args.add("--ot=" + o));
            if (cpuMoe) {
                args.add("--cpu-moe");
            }
            args.add("--n-cpu-moe=" + cpuMoeLayers);
            if (!tensorSplit.isEmpty()) {
                args.add("--ts=" + tensorSplit.stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(",")));
            }
            return args;
        }
    }

    private final Path workDir;

    public Reference(Path workDir) {
        this.workDir = workDir;
        Path library = ReferenceMain.binaries().resolve("libllama.so");
        if (!Files.exists(library)) {
            throw new IllegalStateException(library + " is missing: run scripts/build-native --reference"
                    + " (or point " + ReferenceMain.BINARIES_ENV + " at a reference build)");
        }
    }

    /** Token ids of {@code text}, BOS added and special tokens parsed, as a prompt is tokenized. */
    public int[] tokenize(Path model, String text) throws IOException {
        return tokenize(model, List.of(text), true, true).getFirst();
    }

    /** Token ids of each text, in one run of the reference. Texts must not contain NUL. */
    public List<int[]> tokenize(Path model, List<String> texts, boolean addSpecial, boolean parseSpecial) throws IOException {
        Path in = Files.writeString(Files.createTempFile(workDir, "texts", ".txt"), String.join("\0", texts));
        Path out = Files.createTempFile(workDir, "ids", ".bin");
        run(null, "tokenize", model.toString(), in.toString(), out.toString(), String.valueOf(addSpecial), String.valueOf(parseSpecial));
        return countedLists(ReferenceMain.readInts(out));
    }

    /** What llama.cpp's vocabulary makes of {@code model}'s special tokens. */
    public record Specials(int fimPrefix, int fimSuffix, int fimMiddle, List<Integer> endOfGeneration) {
    }

    public Specials specials(Path model) throws IOException {
        Path out = Files.createTempFile(workDir, "specials", ".bin");
        run(null, "specials", model.toString(), out.toString());
        int[] ints = ReferenceMain.readInts(out);
        return new Specials(ints[0], ints[1], ints[2], java.util.Arrays.stream(ints, 3, ints.length).boxed().toList());
    }

    /**
     * llama.cpp's samplers that narrow the candidates, chained in its order: top-n-sigma, top-k, typical,
     * top-p, min-p, XTC (with no minimum kept), then the temperature (dynamic where {@code dynatempRange} is
     * above 0). Each at llama.cpp's value for off leaves all its input.
     */
    public record FilterChain(float topNSigma, int topK, float typicalP, float topP, float minP, float xtcProbability,
                              float xtcThreshold, float temperature, float dynatempRange, float dynatempExponent) implements Sampling {
        /** The chain at temperature 1, no dynamic temperature. */
        public FilterChain(float topNSigma, int topK, float typicalP, float topP, float minP, float xtcProbability, float xtcThreshold) {
            this(topNSigma, topK, typicalP, topP, minP, xtcProbability, xtcThreshold, 1f, 0f, 1f);
        }

        @Override
        public String line() {
            return topNSigma + " " + topK + " " + typicalP + " " + topP + " " + minP + " " + xtcProbability + " " + xtcThreshold
                    + " " + temperature + " " + dynatempRange + " " + dynatempExponent;
        }
    }

    /**
     * llama.cpp's samplers of {@code chain} in another {@code order} (llama.cpp's names: top_n_sigma, top_k, typ_p,
     * top_p, min_p, xtc, temperature, adaptive_p), as {@code --samplers} orders them: only those named run,
     * adaptive-p last with its {@code adaptiveTarget} and {@code adaptiveDecay}.
     */
    public record OrderedChain(FilterChain chain, List<String> order, float adaptiveTarget, float adaptiveDecay) implements Sampling {
        public OrderedChain(FilterChain chain, List<String> order) {
            this(chain, order, -1f, 0.9f);
        }

        @Override
        public String line() {
            return "order " + (order.isEmpty() ? "-" : String.join(",", order)) + " " + adaptiveTarget + " " + adaptiveDecay + " " + chain.line();
        }
    }

    /** llama.cpp's Mirostat chain (the temperature, then Mirostat {@code version}), of which the reference takes one step. */
    public record MirostatStep(int version, float tau, float eta, float temperature) implements Sampling {
        @Override
        public String line() {
            return "mirostat " + version + " " + tau + " " + eta + " " + temperature;
        }
    }

    /** llama.cpp's DRY alone, over a vocabulary and after a history {@link #distributions} is given. */
    public record DryStep(float multiplier, float base, int allowedLength, int penaltyLastN, List<String> breakers) implements Sampling {
        @Override
        public String line() {
            return "dry " + multiplier + " " + base + " " + allowedLength + " " + penaltyLastN + " " + (breakers.isEmpty() ? "-"
                    : String.join(",", breakers.stream().map(b -> HexFormat.of().formatHex(b.getBytes(StandardCharsets.UTF_8))).toList()));
        }
    }

    /** A sampler chain {@link #distributions} runs. */
    public sealed interface Sampling permits FilterChain, OrderedChain, MirostatStep, DryStep {
        /** The chain as a line of {@link ReferenceMain}'s {@code filters} mode. */
        String line();
    }

    /** The tokens a draw can take after a chain, and their probabilities. */
    public record Distribution(int[] tokens, float[] probabilities) {
    }

    /**
     * What a draw takes from after each chain over {@code logits}: the tokens left that it can take (a token
     * masked to negative infinity, as top-n-sigma masks, is not one), in the order llama.cpp leaves them, and
     * their probabilities at the chain's temperature; in one run of the reference.
     */
    public List<Distribution> distributions(float[] logits, List<? extends Sampling> chains) throws IOException {
        return distributions(logits, chains, null, new int[0]);
    }

    /** As above, with {@code vocabulary}'s tokens (a GGUF file) and {@code history} accepted first, as DRY needs. */
    public List<Distribution> distributions(float[] logits, List<? extends Sampling> chains, Path vocabulary, int[] history)
            throws IOException {
        Path in = Files.createTempFile(workDir, "logits", ".bin");
        ByteBuffer bytes = ByteBuffer.allocate(4 * logits.length).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(logits);
        Files.write(in, bytes.array());
        Path lines = Files.write(Files.createTempFile(workDir, "chains", ".txt"), chains.stream().map(Sampling::line).toList());
        Path out = Files.createTempFile(workDir, "ids", ".bin");
        List<String> args = new ArrayList<>(List.of("filters", in.toString(), lines.toString(), out.toString()));
        if (vocabulary != null) {
            Path tokens = Files.createTempFile(workDir, "history", ".bin");
            ReferenceMain.writeInts(tokens, history);
            args.addAll(List.of(vocabulary.toString(), tokens.toString()));
        }
        run(null, args.toArray(String[]::new));
        int[] flat = ReferenceMain.readInts(out);
        List<Distribution> result = new ArrayList<>();
        for (int at = 0; at < flat.length; ) {
            int n = flat[at++];
            int[] tokens = Arrays.copyOfRange(flat, at, at + n);
            float[] probabilities = new float[n];
            for (int i = 0; i < n; i++) {
                probabilities[i] = Float.intBitsToFloat(flat[at + n + i]);
            }
            result.add(new Distribution(tokens, probabilities));
            at += 2 * n;
        }
        return result;
    }

    /**
     * The tokens llama.cpp's grammar sampler of {@code gbnf} leaves over {@code vocabulary}'s tokens (a GGUF
     * file) before each of {@code tokens} and after the last, each accepted in turn; empty when libllama
     * refuses the grammar.
     */
    public List<int[]> grammarMasks(Path vocabulary, String gbnf, int[] tokens) throws IOException {
        Path grammar = Files.writeString(Files.createTempFile(workDir, "grammar", ".gbnf"), gbnf);
        Path in = Files.createTempFile(workDir, "tokens", ".bin");
        ReferenceMain.writeInts(in, tokens);
        Path out = Files.createTempFile(workDir, "allowed", ".bin");
        run(null, "grammar", vocabulary.toString(), grammar.toString(), in.toString(), out.toString());
        int[] flat = ReferenceMain.readInts(out);
        return flat.length == 1 && flat[0] == -1 ? List.of() : countedLists(flat);
    }

    /** Logits of prompt positions {@code firstOutput..} (teacher-forced), one float[] per position. */
    public float[][] logits(Path model, int[] tokens, int firstOutput, Settings settings, int vocabSize) throws IOException {
        Path in = Files.createTempFile(workDir, "tokens", ".bin");
        ReferenceMain.writeInts(in, tokens);
        Path out = Files.createTempFile(workDir, "logits", ".bin");
        List<String> args = new ArrayList<>(List.of("logits", model.toString(), in.toString(), out.toString(),
                String.valueOf(settings.ubatch()), String.valueOf(settings.threads()), String.valueOf(settings.contextLength()),
                String.valueOf(firstOutput), settings.cache()));
        args.addAll(settings.offloading().arguments());
        run(settings, args.toArray(String[]::new));
        float[][] rows = readRows(out, tokens.length - firstOutput, vocabSize);
        Files.delete(out);
        return rows;
    }

    /** Lists of ints as the reference writes them: each one's count, then its values. */
    private static List<int[]> countedLists(int[] flat) {
        List<int[]> result = new ArrayList<>();
        for (int at = 0; at < flat.length; ) {
            int n = flat[at++];
            result.add(Arrays.copyOfRange(flat, at, at + n));
            at += n;
        }
        return result;
    }

    private static float[][] readRows(Path file, int count, int vocabSize) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.remaining() != 4L * count * vocabSize) {
            throw new IllegalStateException(file + " holds " + bytes.remaining() + " bytes, not " + count + " rows of " + vocabSize);
        }
        float[][] rows = new float[count][vocabSize];
        for (float[] row : rows) {
            bytes.asFloatBuffer().get(row);
            bytes.position(bytes.position() + 4 * vocabSize);
        }
        return rows;
    }

    /** Greedy continuation of {@code prompt} for {@code steps} tokens. */
    public int[] greedy(Path model, int[] prompt, int steps, Settings settings) throws IOException {
        Path in = Files.createTempFile(workDir, "tokens", ".bin");
        ReferenceMain.writeInts(in, prompt);
        Path out = Files.createTempFile(workDir, "ids", ".bin");
        List<String> args = new ArrayList<>(List.of("generate", model.toString(), in.toString(), out.toString(),
                String.valueOf(settings.ubatch()), String.valueOf(settings.threads()), String.valueOf(settings.contextLength()),
                String.valueOf(steps), settings.cache()));
        args.addAll(settings.offloading().arguments());
        run(settings, args.toArray(String[]::new));
        return ReferenceMain.readInts(out);
    }

    /**
     * What the reference computed for a prompt and the tokens decoded one at a time after it: the
     * logits of prompt positions {@code firstOutput..} then of each step, one row per position, and the
     * nodes of two of its graphs: the prompt's last micro-batch and the first step.
     */
    public record Trace(float[][] logits, List<GraphNode> promptGraph, List<GraphNode> decodeGraph) {
    }

    /**
     * Evaluates {@code tokens[0..promptLength)} as a prompt (logits from {@code firstOutput} on), then
     * each further token alone, capturing graphs through libllama's eval callback (see {@link Trace}).
     */
    public Trace trace(Path model, int[] tokens, int promptLength, int firstOutput, Settings settings, int vocabSize)
            throws IOException {
        Path in = Files.createTempFile(workDir, "tokens", ".bin");
        ReferenceMain.writeInts(in, tokens);
        Path graphs = Files.createTempFile(workDir, "graphs", ".txt");
        Path logits = Files.createTempFile(workDir, "logits", ".bin");
        run(settings, "trace", model.toString(), in.toString(), graphs.toString(), logits.toString(), String.valueOf(settings.ubatch()),
                String.valueOf(settings.threads()), String.valueOf(settings.contextLength()), String.valueOf(promptLength),
                String.valueOf(firstOutput), settings.cache());
        List<String> lines = Files.readAllLines(graphs);
        int split = lines.indexOf("#decode");
        float[][] rows = readRows(logits, tokens.length - firstOutput, vocabSize);
        Files.delete(graphs);
        Files.delete(logits);
        Files.delete(in);
        return new Trace(rows, lines.subList(0, split).stream().map(GraphNode::parse).toList(),
                lines.subList(split + 1, lines.size()).stream().map(GraphNode::parse).toList());
    }

    /** A step of several sequences' run in one context (see {@link #batches}). */
    public sealed interface Step {
        /** One {@code llama_decode}: each entry's tokens at its sequence's next positions, in the entries' order. */
        record Decode(List<BatchEvaluator.SequenceTokens> entries) implements Step {
        }

        /** Forgets a sequence's positions from {@code position} on (0: the whole sequence). */
        record Keep(int sequence, int position) implements Step {
        }

        /** Sequence {@code to}, empty, shares the first {@code length} positions of {@code from}. */
        record Share(int from, int to, int length) implements Step {
        }
    }

    /**
     * Runs {@code steps} in one context of {@code sequences} sequences sharing llama.cpp's unified KV
     * cache of {@code settings.contextLength()} cells, and returns the logits each decode step asked
     * for, step after step, entry after entry, one row per token.
     */
    public float[][] batches(Path model, List<Step> steps, int sequences, Settings settings, int vocabSize) throws IOException {
        List<Integer> script = new ArrayList<>();
        int rows = 0;
        for (Step step : steps) {
            switch (step) {
                case Step.Decode decode -> {
                    script.add(ReferenceMain.STEP_DECODE);
                    script.add(decode.entries().size());
                    for (BatchEvaluator.SequenceTokens entry : decode.entries()) {
                        script.addAll(List.of(entry.sequence(), entry.tokens().length, entry.firstOutput()));
                        Arrays.stream(entry.tokens()).forEach(script::add);
                        rows += entry.tokens().length - entry.firstOutput();
                    }
                }
                case Step.Keep keep -> script.addAll(List.of(ReferenceMain.STEP_KEEP, keep.sequence(), keep.position()));
                case Step.Share share -> script.addAll(List.of(ReferenceMain.STEP_SHARE, share.from(), share.to(), share.length()));
            }
        }
        Path in = Files.createTempFile(workDir, "script", ".bin");
        ReferenceMain.writeInts(in, script.stream().mapToInt(Integer::intValue).toArray());
        Path out = Files.createTempFile(workDir, "logits", ".bin");
        run(settings, "batches", model.toString(), in.toString(), out.toString(), String.valueOf(settings.ubatch()),
                String.valueOf(settings.threads()), String.valueOf(settings.contextLength()), String.valueOf(sequences),
                settings.cache());
        float[][] result = readRows(out, rows, vocabSize);
        Files.delete(out);
        Files.delete(in);
        return result;
    }

    /**
     * The reference llama-quantize: {@code in} to {@code out} as {@code type} on two threads, with
     * llama-quantize's own {@code flags} before the files; at most ten minutes.
     */
    public void quantize(Path in, Path out, String type, String... flags) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(ReferenceMain.binaries().resolve("llama-quantize").toString());
        command.addAll(List.of(flags));
        command.addAll(List.of(in.toString(), out.toString(), type, "2"));
        execute(command, "llama-quantize", Duration.ofMinutes(10), true);
    }

    /** Runs {@link ReferenceMain} with {@code args}, under {@code settings}' head rotation (null: libllama's default). */
    private void run(Settings settings, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"),
                ReferenceMain.class.getName()));
        command.addAll(List.of(args));
        execute(command, "reference", null, settings == null || settings.headRotation());
    }

    /**
     * Runs {@code command} with its output in a log; a failure, or running past {@code limit} (if any), throws.
     * Without {@code headRotation}, libllama does not rotate a quantized cache's heads ({@code LLAMA_ATTN_ROT_DISABLE}).
     */
    private void execute(List<String> command, String name, Duration limit, boolean headRotation) throws IOException {
        Path log = Files.createTempFile(workDir, name, ".log");
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().remove("LLAMA_ATTN_ROT_DISABLE");
        if (!headRotation) {
            builder.environment().put("LLAMA_ATTN_ROT_DISABLE", "1");
        }
        Process process = builder.start();
        try {
            if (limit != null && !process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException(name + " ran past " + limit + ": " + tail(log));
            }
            int code = process.waitFor();
            if (code != 0) {
                throw new IllegalStateException(name + " failed (" + code + "): " + tail(log));
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while " + name + " ran", e);
        }
    }

    /** The lines of the log that say what went wrong, else its end. */
    private static String tail(Path log) throws IOException {
        List<String> lines = Files.readAllLines(log);
        List<String> errors = lines.stream()
                .filter(l -> l.contains("GGML_ASSERT") || l.contains("error") || l.contains("Exception") || l.contains("failed"))
                .limit(10).toList();
        return log + "\n" + String.join("\n", errors.isEmpty() ? lines.subList(Math.max(0, lines.size() - 20), lines.size()) : errors);
    }
}
