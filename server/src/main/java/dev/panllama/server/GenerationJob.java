package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One request's generation as the {@link BatchScheduler} holds it: the prompt and options, how many
 * top tokens to report with each generated token's log probability, where its text goes (on the
 * scheduler's decode thread), and its outcome. {@link #cancel()} works from any thread: a job still
 * waiting is skipped when its turn comes, a running one stops at the next step.
 * <p>
 * The choices of one request after the first ({@code n} above 1) follow it: each waits to be admitted
 * until the first's prompt is in the cache (or the first is over), then shares its cells rather than
 * evaluating the prompt again.
 */
final class GenerationJob {

    /** Where a generation's text goes, a piece at a time, with the log probabilities of the tokens it came from. */
    @FunctionalInterface
    interface Output {
        /**
         * {@code text}, and the scores of the tokens generated since the last piece (empty unless the
         * request asked for them); at the end, the text may be empty when only scores are left.
         */
        void accept(String text, List<TokenLogprobs> logprobs);
    }

    /** What {@link #logprobs()} is when the request asks for no log probabilities. */
    static final int NO_LOGPROBS = -1;

    private final int[] prompt;
    private final GenerationOptions options;
    private final int logprobs;
    private final boolean reusePrompt;
    private final Output output;
    /** The request's first choice, which this one follows; null for a first choice. */
    private final GenerationJob leader;
    /** The slot it must run in (llama-server's {@code id_slot}); -1 for any. */
    private final int requestedSlot;
    /** The slot it was admitted to; -1 until then. */
    private volatile int slot = -1;
    private final CompletableFuture<Generation> outcome = new CompletableFuture<>();
    private volatile boolean cancelled;
    /** Whether its prompt is in the cache, or it is over: what its followers wait for. */
    private volatile boolean promptSettled;

    GenerationJob(int[] prompt, GenerationOptions options, int logprobs, boolean reusePrompt, Output output) {
        this(prompt, options, logprobs, reusePrompt, output, null, -1);
    }

    /**
     * A job that follows {@code leader} (another choice of the same request; null for none), so that it shares the
     * leader's prompt cells, and runs in slot {@code requestedSlot} (-1: any).
     */
    GenerationJob(int[] prompt, GenerationOptions options, int logprobs, boolean reusePrompt, Output output, GenerationJob leader,
                  int requestedSlot) {
        this.prompt = prompt;
        this.options = options;
        this.logprobs = logprobs;
        this.reusePrompt = reusePrompt;
        this.output = output;
        this.leader = leader;
        this.requestedSlot = requestedSlot;
        outcome.whenComplete((generation, failure) -> promptSettled = true);
    }

    /** Whether it may be admitted now: it follows no job, or the one it follows has its prompt in the cache or is over. */
    boolean mayStart() {
        return leader == null || leader.promptSettled;
    }

    /** The slot it must run in; -1 for any. */
    int requestedSlot() {
        return requestedSlot;
    }

    /** The slot it was admitted to (-1 until then): llama-server's {@code id_slot} in a reply. */
    int slot() {
        return slot;
    }

    void admittedTo(int value) {
        slot = value;
    }

    /** Notes that its prompt is in the cache: the jobs that follow it may start. */
    void promptEvaluated() {
        promptSettled = true;
    }

    int[] prompt() {
        return prompt;
    }

    GenerationOptions options() {
        return options;
    }

    /** Whether the start of the prompt the cache already holds is used rather than evaluated again (llama-server's cache_prompt). */
    boolean reusesPrompt() {
        return reusePrompt;
    }

    /** How many of the most likely tokens to report with each generated token's log probability; {@link #NO_LOGPROBS} for none. */
    int logprobs() {
        return logprobs;
    }

    Output output() {
        return output;
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
