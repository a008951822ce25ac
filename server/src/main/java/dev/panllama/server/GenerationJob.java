package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;

import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * One request's generation as the {@link BatchScheduler} holds it: the prompt and options, where its
 * text goes (on the scheduler's decode thread), and its outcome. {@link #cancel()} works from any
 * thread: a job still waiting is skipped when its turn comes, a running one stops at the next step.
 */
final class GenerationJob {

    private final int[] prompt;
    private final GenerationOptions options;
    private final Consumer<String> onText;
    private final CompletableFuture<Generation> outcome = new CompletableFuture<>();
    private volatile boolean cancelled;

    GenerationJob(int[] prompt, GenerationOptions options, Consumer<String> onText) {
        this.prompt = prompt;
        this.options = options;
        this.onText = onText;
    }

    int[] prompt() {
        return prompt;
    }

    GenerationOptions options() {
        return options;
    }

    Consumer<String> onText() {
        return onText;
    }

    void cancel() {
        cancelled = true;
    }

    boolean isCancelled() {
        return cancelled;
    }

    /** Gives whoever waits the generation. */
    void finish(Generation generation) {
        outcome.complete(generation);
    }

    /** Gives whoever waits the failure. */
    void fail(RuntimeException failure) {
        outcome.completeExceptionally(failure);
    }

    /** Ends a job that was cancelled before it started. */
    void skip() {
        outcome.completeExceptionally(new CancellationException("cancelled before it started"));
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

    /** Waits at most {@code patience} for the outcome; whether it has come. */
    boolean isDone(Duration patience) throws InterruptedException {
        try {
            outcome.get(patience.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return false;
        } catch (ExecutionException | CancellationException e) {
            // The outcome is a failure: await() reports it.
        }
        return true;
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
