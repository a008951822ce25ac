package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.SequenceGeneration;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One sequence of the {@link BatchScheduler}'s evaluator and the request it serves: idle (its cells,
 * if any, kept as a prompt cache for the next request), evaluating its prompt a chunk per step, or
 * decoding a token per step. The text a step releases reaches the request's output after the step,
 * with the scores of the tokens generated since the last piece when the request asks for them (a
 * token's text can come a step or more later: held back while it may start a stop string, or while
 * its UTF-8 character is incomplete). Only the decode thread touches it; what it reports of itself
 * ({@link #report()}) is immutable.
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
    /** The prompt tokens the cache held when the request was admitted. */
    private int reused;
    /** Whether the text handed over so far has a line break. */
    private boolean newLine;
    /** What it reports while idle: the last request's end, or that it has served none. */
    private SlotReport lastReport;
    private int nextToken;
    private long admitted;
    private long promptDone;
    /** When it was admitted, among all slots: the newest is the first to stop when the context runs out. */
    private long admissionOrder;
    private long cellsAtMost;
    /** The text the generation released during this step, and the scores not yet handed over with text. */
    private final StringBuilder pendingText = new StringBuilder();
    private final List<TokenLogprobs> pendingLogprobs = new ArrayList<>();
    /** The logits as the model gave them, kept for scoring before the sampler changes them; only for requests that ask. */
    private float[] rawLogits;

    SequenceSlot(int sequence) {
        this.sequence = sequence;
        this.lastReport = SlotReport.unused(sequence);
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
        this.generation = model.newGeneration(job.prompt(), job.options(), pendingText::append);
        this.fresh = Arrays.copyOfRange(job.prompt(), reused, job.prompt().length);
        this.promptAt = 0;
        this.reused = reused;
        this.newLine = false;
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
            job.promptEvaluated();
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
        boolean scored = job.logprobs() != GenerationJob.NO_LOGPROBS;
        if (scored) {
            if (rawLogits == null || rawLogits.length != logits.length) {
                rawLogits = new float[logits.length];
            }
            System.arraycopy(logits, 0, rawLogits, 0, logits.length);
        }
        int before = generation.generatedCount();
        nextToken = generation.next(logits);
        if (scored && generation.generatedCount() > before) {
            pendingLogprobs.add(TokenLogprobs.of(rawLogits, generation.lastGenerated(), job.logprobs()));
        }
        handOver(false);
    }

    /**
     * Gives the request's output the text released since the last call, with the scores waiting; at
     * the {@code end}, the scores left even without text.
     */
    private void handOver(boolean end) {
        boolean scoresLeft = end && !pendingLogprobs.isEmpty();
        if (pendingText.isEmpty() && !scoresLeft) {
            return;
        }
        String text = pendingText.toString();
        newLine |= text.indexOf('\n') >= 0;
        List<TokenLogprobs> scores = List.copyOf(pendingLogprobs);
        pendingText.setLength(0);
        pendingLogprobs.clear();
        job.output().accept(text, scores);
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
        handOver(true);
        release();
        return result;
    }

    /**
     * Its state now: the request it generates, or while idle, the one it served last; the tokens its cache
     * holds are the scheduler's to add.
     */
    SlotReport report() {
        return isBusy() ? new SlotReport(sequence, true, admissionOrder, 0, promptAt, reused, job.options(), Math.max(0, job.logprobs()),
                generation.generatedCount(), !generation.isStopped(), newLine) : lastReport;
    }

    /** Forgets the request without a result (it failed); the slot goes idle. */
    void release() {
        if (isBusy()) {
            // As llama-server's idle slot: the request's number and settings, its progress reset.
            lastReport = new SlotReport(sequence, false, admissionOrder, 0, 0, 0, job.options(), Math.max(0, job.logprobs()), 0, false, false);
        }
        pendingText.setLength(0);
        pendingLogprobs.clear();
        phase = Phase.IDLE;
        generation = null;
        fresh = null;
        job = null;
    }
}
