package dev.panllama.api;

import dev.panllama.eval.Evaluator;
import dev.panllama.sampling.Sampler;
import dev.panllama.structured.JsonConstraint;
import dev.panllama.structured.VocabularyTrie;
import dev.panllama.tokenizer.StreamingDecoder;
import dev.panllama.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The generation loop: evaluates what the sequence lacks of the prompt, then samples, decodes and
 * evaluates one token at a time until a stop condition. Text reaches the sink as soon as it can no
 * longer turn out to be the start of a stop string. With a JSON schema, only tokens that keep the text a
 * prefix of a document the schema accepts are sampled, and generation ends once the document is whole.
 */
final class Generator {

    private final Evaluator evaluator;
    private final Tokenizer tokenizer;
    private final Supplier<VocabularyTrie> vocabularyTrie;

    Generator(Evaluator evaluator, Tokenizer tokenizer, Supplier<VocabularyTrie> vocabularyTrie) {
        this.evaluator = evaluator;
        this.tokenizer = tokenizer;
        this.vocabularyTrie = vocabularyTrie;
    }

    void reset() {
        evaluator.reset();
    }

    Generation generate(int[] prompt, GenerationOptions options, Consumer<String> sink, AtomicBoolean cancelled) {
        return generate(prompt, options, sink, cancelled, LogitsListener.NONE, 0);
    }

    /**
     * Generates after {@code prompt}; {@code onLogits} receives the logits of the last
     * {@code promptLogits} prompt positions evaluated now (after any reused prefix), then of every
     * generated token, in order.
     */
    Generation generate(int[] prompt, GenerationOptions options, Consumer<String> sink, AtomicBoolean cancelled,
                        LogitsListener onLogits, int promptLogits) {
        int reused = evaluator.keepCommonPrefix(prompt);
        int[] fresh = java.util.Arrays.copyOfRange(prompt, reused, prompt.length);
        if (fresh.length == 0) {
            // The whole prompt is cached: step back one token to get its logits again.
            evaluator.keep(prompt.length - 1);
            fresh = new int[] {prompt[prompt.length - 1]};
        }
        // One position must stay free for the first generated token.
        if (fresh.length >= evaluator.room()) {
            throw new IllegalStateException("the prompt of " + prompt.length + " tokens does not fit the context of "
                    + evaluator.contextLength() + " tokens");
        }
        Sampler sampler = new Sampler(options.sampling());
        for (int token : prompt) {
            sampler.accept(token);
        }
        JsonConstraint structure = options.jsonSchema() == null ? null
                : options.jsonSchema().constraint(vocabularyTrie.get(), tokenizer.vocabulary());

        long start = System.nanoTime();
        int firstOutput = Math.max(0, Math.min(fresh.length - 1, fresh.length - promptLogits));
        long firstPosition = evaluator.position() + firstOutput;
        float[][] promptRows = evaluator.evaluate(fresh, firstOutput);
        float[] logits = promptRows[promptRows.length - 1];
        for (int i = promptRows.length - Math.min(promptLogits, promptRows.length); i < promptRows.length; i++) {
            onLogits.accept(firstPosition + i, promptRows[i]);
        }
        long promptDone = System.nanoTime();

        StreamingDecoder decoder = tokenizer.streamingDecoder();
        StringBuilder text = new StringBuilder();
        int emitted = 0;
        List<Integer> generated = new ArrayList<>();
        Generation.StopReason reason;
        while (true) {
            if (cancelled.get()) {
                reason = Generation.StopReason.CANCELLED;
                break;
            }
            if (options.maxTokens() >= 0 && generated.size() >= options.maxTokens()) {
                reason = Generation.StopReason.MAX_TOKENS;
                break;
            }
            int token = structure == null ? sampler.sample(logits) : sampler.sample(logits, structure);
            if (token == Sampler.NO_TOKEN) {
                reason = Generation.StopReason.NO_VALID_TOKEN;
                break;
            }
            if (tokenizer.vocabulary().isEndOfGeneration(token)) {
                reason = Generation.StopReason.END_OF_TURN;
                break;
            }
            generated.add(token);
            sampler.accept(token);
            if (structure != null) {
                structure.accept(token);
            }
            int before = text.length();
            text.append(decoder.next(token, false));
            int stopAt = firstStop(text, before, options.stopStrings());
            if (stopAt >= 0) {
                text.setLength(stopAt);
                reason = Generation.StopReason.STOP_STRING;
                break;
            }
            int safe = text.length() - heldBack(text, options.stopStrings());
            if (safe > emitted) {
                sink.accept(text.substring(emitted, safe));
                emitted = safe;
            }
            if (structure != null && structure.isFinished()) {
                reason = Generation.StopReason.END_OF_TURN;
                break;
            }
            if (evaluator.room() <= 1) {
                reason = Generation.StopReason.CONTEXT_FULL;
                break;
            }
            long position = evaluator.position();
            logits = evaluator.evaluate(new int[] {token}, 0)[0];
            onLogits.accept(position, logits.clone());
        }
        if (reason != Generation.StopReason.STOP_STRING) {
            text.append(decoder.flush());
        }
        if (text.length() > emitted) {
            sink.accept(text.substring(emitted));
        }
        long end = System.nanoTime();
        return new Generation(text.toString(), prompt, generated.stream().mapToInt(Integer::intValue).toArray(), reason,
                fresh.length, (promptDone - start) / 1e6, (end - promptDone) / 1e6);
    }

    /**
     * Where the first stop string in {@code text} begins, or -1. The text before {@code newFrom} held
     * none, so only occurrences that end in the new characters are looked for.
     */
    private static int firstStop(StringBuilder text, int newFrom, List<String> stops) {
        int first = -1;
        for (String stop : stops) {
            int at = text.indexOf(stop, Math.max(0, newFrom - stop.length() + 1));
            if (at >= 0 && (first < 0 || at < first)) {
                first = at;
            }
        }
        return first;
    }

    /** How many trailing characters could still be the start of a stop string. */
    private static int heldBack(CharSequence text, List<String> stops) {
        int held = 0;
        for (String stop : stops) {
            for (int length = Math.min(stop.length() - 1, text.length()); length > held; length--) {
                if (text.subSequence(text.length() - length, text.length()).toString().equals(stop.substring(0, length))) {
                    held = length;
                    break;
                }
            }
        }
        return held;
    }
}
