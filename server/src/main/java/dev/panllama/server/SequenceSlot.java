package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.SequenceGeneration;

import java.util.Arrays;

/**
 * One sequence of the {@link BatchScheduler}'s evaluator and the request it serves: idle (its cells,
 * if any, kept as a prompt cache for the next request), evaluating its prompt a chunk per step, or
 * decoding a token per step. Only the decode thread touches it.
 */
final class SequenceSlot {

    enum Phase { IDLE, PROMPT, DECODE }

    final int sequence;
    private Phase phase = Phase.IDLE;
    private GenerationJob job;
    private SequenceGeneration generation;
    /** The prompt tokens the cache lacks, evaluated a chunk at a time from {@code promptAt}. */
    private int[] fresh;
    private int promptAt;
    private int nextToken;
    private long admitted;
    private long promptDone;
    /** When it was admitted, among all slots: the newest is the first to stop when the context runs out. */
    private long admissionOrder;
    private long cellsAtMost;

    SequenceSlot(int sequence) {
        this.sequence = sequence;
    }

    Phase phase() {
        return phase;
    }

    boolean isBusy() {
        return phase != Phase.IDLE;
    }

    GenerationJob job() {
        return job;
    }

    long admissionOrder() {
        return admissionOrder;
    }

    /**
     * The cells {@code job}'s sequence is given: its prompt and its token limit, as the request's check
     * against the context counts them (the token that reaches the limit is not evaluated, so one of
     * them stays spare); without a limit, its prompt and the next token.
     */
    static long cellsAtMost(GenerationJob job) {
        return job.prompt().length + (long) Math.max(1, job.options().maxTokens());
    }

    /**
     * Starts serving {@code job}, whose first {@code reused} prompt tokens the cache already holds, in a
     * context of {@code contextLength} cells (which bounds its reservation).
     */
    void start(GenerationJob job, int reused, LlamaModel model, long order, int contextLength) {
        this.job = job;
        this.cellsAtMost = Math.min(contextLength, cellsAtMost(job));
        this.generation = model.newGeneration(job.prompt(), job.options(), job.onText());
        this.fresh = Arrays.copyOfRange(job.prompt(), reused, job.prompt().length);
        this.promptAt = 0;
        this.admitted = System.nanoTime();
        this.admissionOrder = order;
        this.phase = Phase.PROMPT;
    }

    boolean isUnlimited() {
        return job.options().maxTokens() < 0;
    }

    /** The cells it may still take, holding {@code held} now: the rest of its prompt and limit, or of its prompt and its next token. */
    long cellsStillNeeded(long held) {
        return isUnlimited() ? promptLeft() + 1 : Math.max(0, cellsAtMost - held);
    }

    int promptLeft() {
        return fresh.length - promptAt;
    }

    /** The next {@code count} prompt tokens to evaluate. */
    int[] promptChunk(int count) {
        return Arrays.copyOfRange(fresh, promptAt, promptAt + count);
    }

    /**
     * Notes that {@code count} more prompt tokens are in the cache; with the last of them, {@code logits}
     * (after the prompt) give the first token.
     */
    void promptEvaluated(int count, float[] logits) {
        promptAt += count;
        if (promptAt == fresh.length) {
            promptDone = System.nanoTime();
            phase = Phase.DECODE;
            decoded(logits);
        }
    }

    /** The token to evaluate this step. */
    int nextToken() {
        return nextToken;
    }

    /** Takes the logits after the last token evaluated: picks the next one, or stops. */
    void decoded(float[] logits) {
        if (job.isCancelled()) {
            generation.stop(Generation.StopReason.CANCELLED);
            return;
        }
        nextToken = generation.next(logits);
    }

    /** Stops for {@code reason} (a cancellation, a full context) unless it has stopped already. */
    void stop(Generation.StopReason reason) {
        generation.stop(reason);
    }

    boolean isStopped() {
        return generation != null && generation.isStopped();
    }

    /** Ends the request: the slot goes idle and returns what was generated, for its job to hand over. */
    Generation finish() {
        long now = System.nanoTime();
        long promptEnd = phase == Phase.DECODE ? promptDone : now;
        Generation result = generation.finish(promptAt, (promptEnd - admitted) / 1e6, (now - promptEnd) / 1e6);
        release();
        return result;
    }

    /** Forgets the request without a result (it failed); the slot goes idle. */
    void release() {
        phase = Phase.IDLE;
        generation = null;
        fresh = null;
        job = null;
    }
}
