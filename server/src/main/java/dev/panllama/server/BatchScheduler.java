package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.eval.BatchEvaluator;
import dev.panllama.eval.BatchEvaluator.SequenceTokens;
import dev.panllama.eval.SequenceState;
import dev.panllama.tokenizer.Vocabulary;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntFunction;
import java.util.stream.IntStream;

/**
 * Where requests wait for the model and how they are generated (continuous batching): one decode
 * thread owns a {@link BatchEvaluator} of {@code parallel} sequences ({@link SequenceSlot}s) and, each
 * step, admits waiting requests into free slots in arrival order, then evaluates in one call a token of
 * every decoding sequence and as many prompt tokens of the admitted ones as the batch size leaves (a
 * long prompt takes several steps rather than stalling the others), and samples each sequence's next
 * token with its own sampler. A finished request leaves at once; a cancelled one frees its cells at
 * once. A finished one keeps its cells as its slot's prompt cache, so that a prompt that starts as an
 * earlier one did (a system prompt, a conversation going on) goes to that slot and evaluates only what
 * is new; those cells are given up as soon as another sequence needs the room.
 * <p>
 * The sequences share the context, as llama.cpp's unified cache does. A request is admitted when its
 * prompt and token limit fit beside what the running ones may still take, so that a request with a
 * limit always reaches it; a request without one grows into the room left, and when the context is
 * full it ends with {@link Generation.StopReason#CONTEXT_FULL} (finish reason "length"), the newest
 * first, and the others go on. At most {@code maxQueued} requests wait besides the running ones; more
 * are refused with 429.
 * <p>
 * An idle slot's cells can be saved, replaced by saved ones or erased (llama-server's slot actions): the
 * action waits until its slot is idle, then takes its turn between two steps.
 */
final class BatchScheduler implements AutoCloseable {

    private final LinkedBlockingDeque<GenerationJob> waiting = new LinkedBlockingDeque<>();
    private final Semaphore places;
    private final int maxQueued;
    private final BatchEvaluator evaluator;
    private final LlamaModel model;
    private final int batchSize;
    private final ServerMetrics metrics;
    private final SequenceSlot[] slots;
    /** Each slot's last {@link SequenceSlot#report()}, published by the decode thread after every change, for {@code GET /slots}. */
    private final AtomicReferenceArray<SlotReport> reports;
    /** Per slot, the array each step's logits for it are written into: reused, since its sampler reads them before the next step. */
    private final float[][] logitsOf;
    private final Thread worker;
    private long admissions;
    private volatile int running;
    private volatile long cachedTokens;
    /**
     * The KV cache's memory, measured on the decode thread when a request ends, if it leaves the server
     * idle or the last measure is {@link #CACHE_MEASURE_INTERVAL_NANOS} old: a measure asks the kernel
     * about every page of the cache's reservation, over a millisecond for a context of millions of
     * tokens, which every running request would wait for.
     */
    private volatile long cacheBytes;
    private long cacheMeasuredAt;
    private static final long CACHE_MEASURE_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(10);
    private volatile long sharedPrompts;
    private volatile boolean closed;
    /**
     * Held by the decode thread while it admits and steps, and by a slot action while it works on an idle
     * slot's cells; fair, so that a waiting action gets its turn between two steps.
     */
    private final ReentrantLock turn = new ReentrantLock(true);
    /** Signalled when a request leaves its slot, for the slot actions waiting for it. */
    private final Condition slotFreed = turn.newCondition();

    BatchScheduler(LlamaModel model, int parallel, int maxQueued, ServerMetrics metrics) {
        this.maxQueued = maxQueued;
        this.places = new Semaphore(maxQueued + parallel);
        this.metrics = metrics;
        this.model = model;
        this.batchSize = model.options().batchSize();
        this.evaluator = model.newBatchEvaluator(parallel);
        measureCache(true);
        this.slots = new SequenceSlot[parallel];
        this.reports = new AtomicReferenceArray<>(parallel);
        this.logitsOf = new float[parallel][model.config().dims().vocabSize()];
        for (int i = 0; i < parallel; i++) {
            slots[i] = new SequenceSlot(i);
            reports.set(i, slots[i].report());  // an empty cache
            evaluator.open(i);
        }
        // A platform thread: the generation is native calls, which would pin a virtual thread anyway.
        this.worker = Thread.ofPlatform().name("panllama-generation").start(this::serve);
    }

    /**
     * Queues a generation; {@code output} receives its text on the decode thread, with the log
     * probabilities of its tokens and their {@code logprobs} most likely alternatives
     * ({@link GenerationJob#NO_LOGPROBS}: none). {@code reusePrompt}: whether the start of the prompt
     * the cache holds is used (else the whole prompt is evaluated again).
     *
     * @throws ApiException 429 when {@code maxQueued} requests already wait; 503 once closing
     */
    GenerationJob submit(int[] prompt, GenerationOptions options, int logprobs, boolean reusePrompt, GenerationJob.Output output) {
        return submitChoices(prompt, List.of(options), logprobs, reusePrompt, List.of(output)).getFirst();
    }

    /**
     * Queues the choices of one request ({@code n} of them, {@code options} each, {@code outputs} each):
     * the first as {@link #submit} does, the others following it, so that they share its prompt's cells.
     * All are queued or none.
     *
     * @throws ApiException 429 when fewer than {@code n} places are left for waiting requests; 503 once closing
     */
    List<GenerationJob> submitChoices(int[] prompt, List<GenerationOptions> options, int logprobs, boolean reusePrompt,
                                      List<GenerationJob.Output> outputs) {
        return submitChoices(prompt, options, logprobs, reusePrompt, -1, outputs);
    }

    /**
     * {@link #submitChoices}, the first choice in slot {@code slot} (llama-server's {@code id_slot}; -1: any);
     * it waits for that slot to be free. The other choices take any.
     */
    List<GenerationJob> submitChoices(int[] prompt, List<GenerationOptions> options, int logprobs, boolean reusePrompt, int slot,
                                      List<GenerationJob.Output> outputs) {
        if (slot < -1 || slot >= slots.length) {
            throw new IllegalArgumentException("slot " + slot + " of " + slots.length);
        }
        if (closed) {
            throw shuttingDown();
        }
        if (!places.tryAcquire(options.size())) {
            throw new ApiException(429, "requests", "The server is busy: " + slots.length + " requests are being generated and "
                    + maxQueued + " are waiting for the model. Retry later.", null, "rate_limit_exceeded");
        }
        List<GenerationJob> jobs = new ArrayList<>();
        for (int i = 0; i < options.size(); i++) {
            // The followers always take the first's cells: they were evaluated for this very prompt.
            jobs.add(i == 0 ? new GenerationJob(prompt, options.get(i), logprobs, reusePrompt, outputs.get(i), null, slot)
                    : new GenerationJob(prompt, options.get(i), logprobs, true, outputs.get(i), jobs.getFirst(), -1));
        }
        waiting.addAll(jobs);
        return jobs;
    }

    /** Requests waiting, the running ones not counted. */
    int waitingCount() {
        return waiting.size();
    }

    /** Requests being generated. */
    int runningCount() {
        return running;
    }

    /** Every slot's state as of its last step, in slot order. */
    List<SlotReport> slotReports() {
        List<SlotReport> all = new ArrayList<>(reports.length());
        for (int i = 0; i < reports.length(); i++) {
            all.add(reports.get(i));
        }
        return all;
    }

    /** Tokens the KV cache holds, every sequence's (prompt caches of idle slots included). */
    long cachedTokens() {
        return cachedTokens;
    }

    /** Bytes of memory the KV cache held when last measured (see {@link #cacheBytes}): its host pages written so far, and its device cells. */
    long cacheBytes() {
        return cacheBytes;
    }

    private void serve() {
        try {
            while (!closed) {
                if (running == 0) {
                    // Nothing to decode: wait for a request, then put it back at the head for admit().
                    waiting.putFirst(waiting.take());
                }
                turn.lock();
                try {
                    admit();
                    if (running > 0) {
                        step();
                    }
                } catch (RuntimeException e) {
                    // The model failed (or was closed under the server): the running requests get the error.
                    failAll(e);
                } finally {
                    turn.unlock();
                }
            }
        } catch (InterruptedException e) {
            // closing
        } finally {
            turn.lock();
            try {
                for (SequenceSlot slot : slots) {
                    if (slot.isBusy()) {
                        slot.stop(Generation.StopReason.CANCELLED);
                        end(slot, true);
                    }
                }
                slotFreed.signalAll();
            } finally {
                turn.unlock();
            }
        }
    }

    /**
     * llama.cpp's warm-up run: evaluates the vocabulary's BOS and EOS tokens in slot 0 and forgets them, so
     * that the first request does not pay for the first graph and its buffers.
     */
    void warmUp() throws InterruptedException {
        Vocabulary vocabulary = model.vocabulary();
        int[] tokens = IntStream.of(vocabulary.bos(), vocabulary.eos()).filter(id -> id != Vocabulary.NONE).toArray();
        int[] warmUp = tokens.length == 0 ? new int[] {0} : tokens;
        whenIdle(0, sequence -> {
            evaluator.evaluate(List.of(new SequenceTokens(sequence, warmUp, warmUp.length - 1)));
            return evaluator.keep(sequence, 0);
        });
    }

    /** The state of slot {@code index}'s cells (its prompt cache), once it is idle: what {@link #restoreSlot} takes. */
    SequenceState saveSlot(int index) throws InterruptedException {
        return whenIdle(index, evaluator::save);
    }

    /**
     * Replaces slot {@code index}'s cells, once it is idle, with {@code state}, giving up idle slots'
     * caches for the room; a next prompt that starts with its tokens evaluates only the rest. Returns
     * the tokens restored.
     *
     * @throws IllegalArgumentException the state does not fit the cache (its types or shape, or the room
     *                                  the running requests leave); the slot is then empty
     */
    int restoreSlot(int index, SequenceState state) throws InterruptedException {
        return whenIdle(index, sequence -> {
            evaluator.keep(sequence, 0);
            if (!makeRoom(state.tokens().length + reserved(), slots[index])) {
                throw new IllegalArgumentException("the context has no room for its " + state.tokens().length
                        + " tokens beside the running requests");
            }
            evaluator.restore(sequence, state);
            return state.tokens().length;
        });
    }

    /** Empties slot {@code index}'s cells once it is idle; returns how many tokens they held. */
    long eraseSlot(int index) throws InterruptedException {
        return whenIdle(index, sequence -> {
            long held = evaluator.position(sequence);
            evaluator.keep(sequence, 0);
            return held;
        });
    }

    /** Runs {@code action} on slot {@code index}'s sequence once no request runs in it, between two steps. */
    private <T> T whenIdle(int index, IntFunction<T> action) throws InterruptedException {
        turn.lockInterruptibly();
        try {
            while (slots[index].isBusy() && !closed) {
                slotFreed.await();
            }
            if (closed) {
                throw shuttingDown();
            }
            try {
                return action.apply(slots[index].sequence);
            } finally {
                noteCachedTokens();
                // A restore may have given up other slots' caches.
                for (SequenceSlot slot : slots) {
                    publish(slot);
                }
            }
        } finally {
            turn.unlock();
        }
    }

    /** How many slots there are: actions name one by its index, from 0. */
    int slotCount() {
        return slots.length;
    }

    /**
     * Moves waiting requests into free slots, in arrival order, while their prompts fit; one that asked for a
     * slot still busy stays waiting without holding up those after it.
     */
    private void admit() {
        for (Iterator<GenerationJob> queue = waiting.iterator(); queue.hasNext() && !closed; ) {
            GenerationJob job = queue.next();
            if (job.isCancelled()) {
                queue.remove();
                places.release();
                job.skip();
                continue;
            }
            if (!job.mayStart()) {
                // Another choice of its request is evaluating the prompt it will share: a step or two.
                return;
            }
            if (job.requestedSlot() >= 0 && slots[job.requestedSlot()].isBusy()) {
                // It waits for its slot, as llama-server defers it; those after it are not held up.
                continue;
            }
            SequenceSlot slot = job.requestedSlot() >= 0 ? slots[job.requestedSlot()] : freeSlotFor(job.prompt());
            if (slot == null) {
                return;
            }
            int[] prompt = job.prompt();
            // The slot's own cached start, or a longer one another slot (running or not) holds, shared rather than computed again.
            int reused = job.reusesPrompt()
                    ? evaluator.keepOrSharePrefix(slot.sequence, prompt)
                    : (int) evaluator.keep(slot.sequence, 0);
            sharedPrompts = evaluator.prefixesShared();
            if (reused == prompt.length) {
                // The whole prompt is cached: step back one token to get its logits again.
                reused = (int) evaluator.keep(slot.sequence, prompt.length - 1);
            }
            long needed = Math.min(evaluator.contextLength(), SequenceSlot.cellsAtMost(job)) - reused + reserved();
            if (!makeRoom(needed, slot)) {
                return;
            }
            queue.remove();
            try {
                slot.start(job, reused, model, admissions++, evaluator.contextLength());
            } catch (RuntimeException e) {
                // Its generation cannot start (what it asks for cannot be followed): it fails alone.
                evaluator.keep(slot.sequence, 0);
                places.release();
                job.fail(requestFailure(e));
                continue;
            }
            running++;
            job.admittedTo(slot.sequence);
            publish(slot);
        }
    }

    /** Takes down the tokens the cache holds, for the HTTP threads that read {@link #cachedTokens()}. */
    private void noteCachedTokens() {
        cachedTokens = evaluator.contextLength() - evaluator.room();
    }

    private void publish(SequenceSlot slot) {
        reports.set(slot.sequence, slot.report().withCachedTokens(evaluator.position(slot.sequence)));
    }

    /** How many requests started from another slot's cells (see {@link BatchEvaluator#keepOrSharePrefix}). */
    long sharedPrompts() {
        return sharedPrompts;
    }

    /** The free slot whose cache shares the longest start with {@code prompt}; null when all are busy. */
    private SequenceSlot freeSlotFor(int[] prompt) {
        SequenceSlot best = null;
        int bestShared = -1;
        for (SequenceSlot slot : slots) {
            if (!slot.isBusy()) {
                int shared = evaluator.commonPrefix(slot.sequence, prompt);
                if (shared > bestShared) {
                    best = slot;
                    bestShared = shared;
                }
            }
        }
        return best;
    }

    /**
     * The cells the running sequences may still take: the rest of their prompts and token limits, or
     * for a request without a limit, the rest of its prompt and its next token.
     */
    private long reserved() {
        long reserved = 0;
        for (SequenceSlot slot : slots) {
            if (slot.isBusy()) {
                reserved += slot.cellsStillNeeded(evaluator.position(slot.sequence));
            }
        }
        return reserved;
    }

    /**
     * Gives up idle slots' prompt caches, {@code keep}'s excepted, until {@code needed} tokens fit;
     * false when they cannot.
     */
    private boolean makeRoom(long needed, SequenceSlot keep) {
        for (SequenceSlot slot : slots) {
            if (evaluator.room() >= needed) {
                return true;
            }
            if (slot != keep && !slot.isBusy() && evaluator.position(slot.sequence) > 0) {
                evaluator.keep(slot.sequence, 0);
                publish(slot);
            }
        }
        return evaluator.room() >= needed;
    }

    /** One evaluation: a token of each decoding sequence, and prompt chunks in the batch's room left. */
    private void step() {
        for (SequenceSlot slot : slots) {
            if (slot.isBusy() && slot.job().isCancelled()) {
                slot.stop(Generation.StopReason.CANCELLED);
                end(slot, true);
            }
        }
        // Requests with a token limit were admitted with room for all of it; those without one grow into
        // what is left, and when that is gone the newest of them stops.
        while (running > 0 && !makeRoom(reserved(), null)) {
            SequenceSlot newest = newestUnlimited();
            newest.stop(Generation.StopReason.CONTEXT_FULL);
            end(newest, true);
        }
        List<SequenceSlot> decoding = busy(SequenceSlot.Phase.DECODE);
        List<SequenceSlot> members = new ArrayList<>(decoding);
        List<SequenceTokens> batch = new ArrayList<>();
        List<float[][]> logits = new ArrayList<>();
        for (SequenceSlot slot : decoding) {
            batch.add(new SequenceTokens(slot.sequence, new int[] {slot.nextToken()}, 0));
            logits.add(new float[][] {logitsOf[slot.sequence]});
        }
        // Admission left room for every prompt; the batch size bounds how much of them one step takes.
        long budget = Math.max(0, batchSize - decoding.size());
        List<SequenceSlot> prompting = busy(SequenceSlot.Phase.PROMPT);
        for (SequenceSlot slot : prompting) {
            int count = (int) Math.min(slot.promptLeft(), budget);
            if (count == 0) {
                break;
            }
            budget -= count;
            boolean last = count == slot.promptLeft();
            batch.add(new SequenceTokens(slot.sequence, slot.promptChunk(count), last ? count - 1 : count));
            logits.add(last ? new float[][] {logitsOf[slot.sequence]} : new float[0][]);
            members.add(slot);
        }
        if (batch.isEmpty()) {
            return;
        }
        evaluator.evaluate(batch, logits);
        for (int i = 0; i < members.size(); i++) {
            SequenceSlot slot = members.get(i);
            float[][] rows = logits.get(i);
            try {
                if (slot.phase() == SequenceSlot.Phase.DECODE) {
                    slot.decoded(rows[0]);
                } else {
                    slot.promptEvaluated(batch.get(i).tokens().length, rows.length == 0 ? null : rows[rows.length - 1]);
                }
            } catch (RuntimeException e) {
                // Sampling is the request's own (its grammar, say): it fails alone, and the others go on.
                fail(slot, e);
                continue;
            }
            if (slot.isStopped()) {
                end(slot, slot.job().isCancelled());
            } else {
                publish(slot);
            }
        }
        noteCachedTokens();
    }

    /** The running sequence without a token limit admitted last; else (never expected) the last admitted. */
    private SequenceSlot newestUnlimited() {
        SequenceSlot newest = null;
        for (SequenceSlot slot : slots) {
            if (slot.isBusy() && (newest == null || slot.isUnlimited() && !newest.isUnlimited()
                    || slot.isUnlimited() == newest.isUnlimited() && slot.admissionOrder() > newest.admissionOrder())) {
                newest = slot;
            }
        }
        return newest;
    }

    /** The slots in {@code phase}, oldest admission first. */
    private List<SequenceSlot> busy(SequenceSlot.Phase phase) {
        List<SequenceSlot> found = new ArrayList<>();
        for (SequenceSlot slot : slots) {
            if (slot.phase() == phase) {
                found.add(slot);
            }
        }
        found.sort(Comparator.comparingLong(SequenceSlot::admissionOrder));
        return found;
    }

    /**
     * Ends a stopped slot's request: counted, and its place freed, before its client hears, so that a
     * client that asks at once for the metrics, or sends its next request, finds them up to date.
     * {@code freeCells} gives its cells back now rather than keep them as a prompt cache.
     */
    private void end(SequenceSlot slot, boolean freeCells) {
        GenerationJob job = slot.job();
        Generation generation = slot.finish();
        if (freeCells) {
            evaluator.keep(slot.sequence, 0);
        }
        publish(slot);
        metrics.generation(generation);
        noteCachedTokens();
        measureCache(running == 1);
        // The place first: once the metrics show one request fewer running, a new one is accepted.
        places.release();
        running--;
        slotFreed.signalAll();
        job.finish(generation);
    }

    /** Measures the KV cache's memory when the server is {@code idle} or the last measure is old enough. */
    private void measureCache(boolean idle) {
        long now = System.nanoTime();
        if (idle || now - cacheMeasuredAt >= CACHE_MEASURE_INTERVAL_NANOS) {
            cacheBytes = evaluator.cacheCommittedBytes();
            cacheMeasuredAt = now;
        }
    }

    /** {@code slot}'s request failed in its own sampling: it gets the error, and its cells are freed. */
    private void fail(SequenceSlot slot, RuntimeException failure) {
        GenerationJob job = slot.job();
        slot.release();
        evaluator.keep(slot.sequence, 0);
        publish(slot);
        noteCachedTokens();
        places.release();
        running--;
        slotFreed.signalAll();
        job.fail(requestFailure(failure));
    }

    /** A request's own failure as its client hears it: what it asked for cannot be followed (its grammar is too ambiguous, say), a 400. */
    private static RuntimeException requestFailure(RuntimeException failure) {
        return failure instanceof IllegalArgumentException invalid
                ? ApiException.invalid("The request cannot be generated: " + invalid.getMessage() + ".", null) : failure;
    }

    /** An evaluation failed: every running request fails with it, and the cache starts over. */
    private void failAll(RuntimeException failure) {
        List<GenerationJob> failed = new ArrayList<>();
        for (SequenceSlot slot : slots) {
            if (slot.isBusy()) {
                failed.add(slot.job());
                slot.release();
                places.release();
                running--;
            }
        }
        slotFreed.signalAll();
        evaluator.clear();
        for (SequenceSlot slot : slots) {
            publish(slot);
        }
        cachedTokens = 0;
        measureCache(true);
        failed.forEach(job -> job.fail(failure));
    }

    private void abandonWaiting() {
        List<GenerationJob> abandoned = new ArrayList<>();
        waiting.drainTo(abandoned);
        abandoned.forEach(job -> job.abandon(shuttingDown()));
    }

    private static ApiException shuttingDown() {
        return new ApiException(503, "server_error", "The server is shutting down.", null, "server_shutting_down");
    }

    /** Stops the running generations, fails the waiting ones, ends the decode thread and frees the cache. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        abandonWaiting();
        worker.interrupt();
        try {
            worker.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        // A request that got past the closed check as the scheduler closed is answered too.
        abandonWaiting();
        // A slot action under way finishes first; those waiting see the scheduler closed.
        turn.lock();
        try {
            slotFreed.signalAll();
            evaluator.close();
        } finally {
            turn.unlock();
        }
    }
}
