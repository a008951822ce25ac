package dev.panllama.api;

import dev.panllama.eval.Evaluator;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What chats and completions share: one sequence in a KV cache of their own, the generation loop over
 * it, cancellation from any thread, and a lifetime inside the model's.
 */
abstract sealed class Session implements AutoCloseable permits Chat, Completion {

    final LlamaModel model;
    final Evaluator evaluator;
    final Generator generator;
    final AtomicBoolean cancelled = new AtomicBoolean();
    private boolean closed;

    Session(LlamaModel model, Evaluator evaluator) {
        this.model = model;
        this.evaluator = evaluator;
        this.generator = new Generator(evaluator, model.tokenizer(), model::vocabularyTrie);
    }

    /** Stops the generation under way, from any thread; it ends with {@link Generation.StopReason#CANCELLED}. */
    public void cancel() {
        cancelled.set(true);
    }

    /** Tokens this session's KV cache holds: the sequence a next prompt may share a start with. */
    public long cachedTokens() {
        checkOpen();
        return evaluator.position();
    }

    void checkOpen() {
        model.checkOpen();
        if (closed) {
            throw new IllegalStateException("this " + getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT) + " is closed");
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            evaluator.close();
            model.forget(this);
        }
    }
}
