package dev.panllama.api;

import dev.panllama.eval.Evaluator;

import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * The generation loop: evaluates what the sequence lacks of the prompt, then samples, decodes and
 * evaluates one token at a time until a stop condition; what happens to each token (sampling, stop
 * conditions, structured output, text) is the {@link SequenceGeneration}'s.
 */
final class Generator {

    private final Evaluator evaluator;
    private final LlamaModel model;

    Generator(Evaluator evaluator, LlamaModel model) {
        this.evaluator = evaluator;
        this.model = model;
    }

    void reset() {
        evaluator.reset();
    }

    Generation generate(int[] prompt, GenerationOptions options, Consumer<String> sink, BooleanSupplier cancelled) {
        return generate(prompt, options, sink, cancelled, LogitsListener.NONE, 0);
    }

    /**
     * Generates after {@code prompt}; {@code onLogits} receives the logits of the last
     * {@code promptLogits} prompt positions evaluated now (after any reused prefix), then of every
     * generated token evaluated (each but one that reaches the token limit), in order. {@code cancelled} is
     * asked before each token is sampled.
     */
    Generation generate(int[] prompt, GenerationOptions options, Consumer<String> sink, BooleanSupplier cancelled,
                        LogitsListener onLogits, int promptLogits) {
        int reused = evaluator.keepOrSharePrefix(prompt);
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
        SequenceGeneration generation = model.newGeneration(prompt, options, sink);

        long start = System.nanoTime();
        int firstOutput = Math.max(0, Math.min(fresh.length - 1, fresh.length - promptLogits));
        long firstPosition = evaluator.position() + firstOutput;
        float[][] promptRows = evaluator.evaluate(fresh, firstOutput);
        float[] logits = promptRows[promptRows.length - 1];
        for (int i = promptRows.length - Math.min(promptLogits, promptRows.length); i < promptRows.length; i++) {
            onLogits.accept(firstPosition + i, promptRows[i]);
        }
        long promptDone = System.nanoTime();

        // Each step's logits go into one array, which the sampler reads (and may change) before the next step.
        float[] stepLogits = new float[logits.length];
        while (true) {
            if (cancelled.getAsBoolean()) {
                generation.stop(Generation.StopReason.CANCELLED);
                break;
            }
            int token = generation.next(logits);
            if (token == SequenceGeneration.STOPPED) {
                break;
            }
            if (evaluator.room() <= 1) {
                generation.stop(Generation.StopReason.CONTEXT_FULL);
                break;
            }
            long position = evaluator.position();
            logits = evaluator.evaluateNext(token, stepLogits);
            if (onLogits != LogitsListener.NONE) {
                onLogits.accept(position, logits.clone());
            }
        }
        long end = System.nanoTime();
        return generation.finish(fresh.length, (promptDone - start) / 1e6, (end - promptDone) / 1e6);
    }
}
