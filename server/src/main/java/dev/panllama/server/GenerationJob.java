package dev.panllama.server;

import dev.panllama.api.Completion;
import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;

import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.Consumer;

/**
 * One request's generation as the {@link GenerationQueue} holds it: the prompt and options, where its
 * text goes (on the queue's worker thread), and its outcome. {@link #cancel()} works from any thread:
 * a job not yet started is skipped, a running one stops at its next token.
 */
final class GenerationJob {

    private final int[] prompt;
    private final GenerationOptions options;
    private final Consumer<String> onText;
    private final CompletableFuture<Generation> outcome = new CompletableFuture<>();
    private volatile boolean cancelled;
    private volatile Completion running;

    GenerationJob(int[] prompt, GenerationOptions options, Consumer<String> onText) {
        this.prompt = prompt;
        this.options = options;
        this.onText = onText;
    }

    void cancel() {
        cancelled = true;
        Completion session = running;
        if (session != null) {
            session.cancel();
        }
    }

    /**
     * Generates with {@code session}, on the queue's worker; null when the job was cancelled before
     * it started. The outcome is left to {@link #finish}, so that the queue can first count it.
     */
    Generation generate(Completion session) {
        running = session;
        try {
            if (cancelled) {
                return null;
            }
            // The session clears its cancel flag as it starts: a cancel that lands just then is
            // caught here, at the first piece of text.
            return session.complete(prompt, options, piece -> {
                if (cancelled) {
                    session.cancel();
                } else {
                    onText.accept(piece);
                }
            });
        } finally {
            running = null;
        }
    }

    /** Gives the outcome to whoever waits: the generation, else the failure, else a cancellation. */
    void finish(Generation generation, RuntimeException failure) {
        if (failure != null) {
            outcome.completeExceptionally(failure);
        } else if (generation == null) {
            outcome.completeExceptionally(new CancellationException("cancelled before it started"));
        } else {
            outcome.complete(generation);
        }
    }

    /** Fails a job that will never run (the server is closing). */
    void abandon(RuntimeException reason) {
        cancelled = true;
        outcome.completeExceptionally(reason);
    }

    /** Runs {@code action} once the job has its outcome (at once if it has). */
    void whenDone(Runnable action) {
        outcome.whenComplete((generation, failure) -> action.run());
    }

    /**
     * Waits for the outcome.
     *
     * @throws CancellationException the job was cancelled before it started
     * @throws RuntimeException      what the generation threw
     */
    Generation await() throws InterruptedException {
        try {
            return outcome.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw new IllegalStateException(e.getCause());
        }
    }
}
