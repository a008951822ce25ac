package dev.panllama.cli;

import dev.panllama.json.JsonWriter;
import dev.panllama.api.Completion;
import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.LogitsListener;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Continue a prompt (text of -p, a file of -f, or standard input) and print the result.")
final class GenerateCommand extends Subcommand {

    @Mixin
    ModelArgs model;

    @Mixin
    SamplingArgs sampling;

    @Mixin
    StructuredOutputArgs structure;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "The prompt.")
    String prompt;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Read the prompt from FILE.")
    Path file;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", description = "Tokens to generate; -1 until the end of the text (default: 128).")
    int maxTokens = 128;

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop before TEXT (repeatable).")
    List<String> stops = List.of();

    @Option(names = "--json", description = "Print prompt ids, generated ids, text and timings as JSON.")
    boolean json;

    @Option(names = "--logits-out", paramLabel = "FILE", description = "Write float32 logits of every evaluated position, row after row.")
    Path logitsOut;

    @Option(names = "--logits-last", paramLabel = "N", description = "With --logits-out: only the last N prompt positions, then the generated ones.")
    Integer logitsLast;

    @Option(names = "--prompt-cache", paramLabel = "FILE",
            description = "Reuse the prompt state saved in FILE for the start the prompt shares with it; save the prompt's state there once evaluated (llama.cpp's --prompt-cache).")
    Path promptCache;

    @Option(names = "--prompt-cache-ro", description = "With --prompt-cache: use FILE but leave it as it is.")
    boolean promptCacheReadOnly;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = out();
        PrintWriter err = err();
        GenerationOptions given = structure.apply(new GenerationOptions(maxTokens, stops, sampling.options()));
        Path modelFile = model.requireModel();
        String text = Prompts.read(prompt, file, System.in);
        if (promptCacheReadOnly && promptCache == null) {
            throw new IllegalArgumentException("--prompt-cache-ro needs --prompt-cache FILE");
        }
        try (LlamaModel llama = model.open(modelFile, err); Completion completion = llama.newCompletion();
             LogitsFile logits = logitsOut == null ? null : new LogitsFile(logitsOut)) {
            GenerationOptions options = sampling.forVocabulary(given, llama.vocabulary());
            int[] ids = llama.tokenizer().encode(text, true, true);
            int promptLogits = logitsOut == null ? 0 : logitsLast == null ? Integer.MAX_VALUE : logitsLast;
            LogitsListener listener = logits == null ? LogitsListener.NONE : logits;
            Generation prefix = promptCache == null ? null : evaluateWithPromptCache(completion, ids, listener, promptLogits, err);
            Generation generation = completion.complete(ids, options, json ? piece -> { } : piece -> {
                out.print(piece);
                out.flush();
            }, listener, promptLogits);
            if (prefix != null) {
                generation = new Generation(generation.text(), generation.promptIds(), generation.generatedIds(), generation.stopReason(),
                        prefix.promptTokens() + generation.promptTokens(), prefix.promptMillis() + generation.promptMillis(),
                        generation.generatedMillis(), generation.stopString());
            }
            if (json) {
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("prompt_ids", generation.promptIds());
                result.put("generated_ids", generation.generatedIds());
                result.put("text", generation.text());
                result.put("stop_reason", generation.stopReason().name().toLowerCase(java.util.Locale.ROOT));
                Map<String, Object> timings = new LinkedHashMap<>();
                timings.put("prompt_tokens", generation.promptTokens());
                timings.put("prompt_ms", generation.promptMillis());
                timings.put("prompt_tokens_per_second", generation.promptTokensPerSecond());
                timings.put("generated_tokens", generation.generatedIds().length);
                timings.put("generation_ms", generation.generatedMillis());
                timings.put("generated_tokens_per_second", generation.generatedTokensPerSecond());
                result.put("timings", timings);
                out.println(JsonWriter.write(result));
            } else {
                out.println();
                err.println("prompt: " + Units.tokens(generation.promptTokens(), generation.promptTokensPerSecond())
                        + " | generated: " + Units.tokens(generation.generatedIds().length, generation.generatedTokensPerSecond()));
            }
        }
        return 0;
    }

    /**
     * The prompt cache as llama.cpp's, but for the prompt's last token: takes from the file the start
     * the prompt shares with it, evaluates the rest of the prompt but its last token and saves that
     * state back (unless read-only). The last token is left to the generation, which evaluates it on
     * its own every run, so that a run from the file gives what the run that wrote it gave. Returns what
     * was evaluated here (null when nothing was), its logits rows passed to {@code listener}.
     */
    private Generation evaluateWithPromptCache(Completion completion, int[] ids, LogitsListener listener, int promptLogits,
                                               PrintWriter err) {
        int reused = 0;
        if (Files.exists(promptCache)) {
            completion.load(promptCache);
            reused = commonPrefix(completion.cachedIds(), ids);
            err.println("prompt cache: " + reused + " of " + ids.length + " prompt tokens reused from " + promptCache);
        }
        int cached = ids.length - 1;
        if (reused >= cached) {
            return null;
        }
        // The generation's call gives the last position's row; this one the rows before it.
        int rowsBefore = promptLogits == Integer.MAX_VALUE ? promptLogits : Math.max(0, promptLogits - 1);
        Generation prefix = completion.complete(Arrays.copyOf(ids, cached), new GenerationOptions(0, List.of(), sampling.options()),
                piece -> { }, listener, rowsBefore);
        if (!promptCacheReadOnly) {
            completion.save(promptCache);
        }
        return prefix;
    }

    private static int commonPrefix(int[] cached, int[] prompt) {
        int common = 0;
        while (common < cached.length && common < prompt.length && cached[common] == prompt[common]) {
            common++;
        }
        return common;
    }

    /** Appends float32 logit rows to a file as they come. */
    private static final class LogitsFile implements LogitsListener, AutoCloseable {
        private final FileChannel channel;

        LogitsFile(Path path) throws IOException {
            channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
        }

        @Override
        public void accept(long position, float[] logits) {
            ByteBuffer bytes = ByteBuffer.allocate(logits.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            bytes.asFloatBuffer().put(logits);
            try {
                while (bytes.hasRemaining()) {
                    channel.write(bytes);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the logits: " + e.getMessage(), e);
            }
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
