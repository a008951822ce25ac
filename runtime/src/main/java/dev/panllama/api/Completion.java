package dev.panllama.api;

import dev.panllama.eval.Evaluator;

import java.util.concurrent.Flow;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Completion of raw prompts, without a chat format. Successive prompts that share a start reuse the
 * cached tokens. One thread at a time, {@link #cancel()} excepted.
 */
public final class Completion extends Session {

    Completion(LlamaModel model, Evaluator evaluator) {
        super(model, evaluator);
    }

    /** Continues {@code prompt} (BOS added as the vocabulary says, special tokens parsed). */
    public Generation complete(String prompt, GenerationOptions options, Consumer<String> onText) {
        return complete(model.tokenizer().encode(prompt, true, true), options, onText);
    }

    /** Continues a prompt given as token ids. */
    public Generation complete(int[] prompt, GenerationOptions options, Consumer<String> onText) {
        checkOpen();
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        cancelled.set(false);
        return generator.generate(prompt, options, onText, cancelled::get);
    }

    /**
     * Continues {@code prompt}, also handing {@code onLogits} the logits of its last
     * {@code promptLogits} positions (all of them for {@link Integer#MAX_VALUE}) and of each generated token
     * evaluated (not one that reaches the token limit).
     */
    public Generation complete(int[] prompt, GenerationOptions options, Consumer<String> onText,
                               LogitsListener onLogits, int promptLogits) {
        checkOpen();
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        cancelled.set(false);
        return generator.generate(prompt, options, onText, cancelled::get, onLogits, promptLogits);
    }

    public Stream<String> stream(String prompt, GenerationOptions options) {
        checkOpen();
        return TokenStreams.stream(sink -> complete(prompt, options, sink), this::cancel);
    }

    public Flow.Publisher<String> publish(String prompt, GenerationOptions options) {
        checkOpen();
        return TokenStreams.publisher(sink -> complete(prompt, options, sink), this::cancel);
    }
}
