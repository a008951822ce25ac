package dev.panllama.server;

import dev.panllama.api.Completion;
import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.function.Consumer;

/**
 * Where requests wait for the model: one sequence at a time, served in arrival order by one worker
 * thread over one {@link Completion} session. Keeping that session between requests keeps its KV
 * cache, so a prompt that starts as the last one did (the same system prompt, a conversation going
 * on) evaluates only what is new. At most {@code maxQueued} requests wait besides the one running;
 * more are refused with 429. All request scheduling lives here, so that a batching scheduler can
 * take its place.
 */
final class GenerationQueue implements AutoCloseable {

    private final LinkedBlockingQueue<GenerationJob> waiting = new LinkedBlockingQueue<>();
    private final Semaphore places;
    private final int maxQueued;
    private final Completion session;
    private final ServerMetrics metrics;
    private final Thread worker;
    private volatile GenerationJob current;
    private volatile long cachedTokens;
    private volatile boolean closed;

    GenerationQueue(LlamaModel model, int maxQueued, ServerMetrics metrics) {
        this.maxQueued = maxQueued;
        this.places = new Semaphore(maxQueued + 1);
        this.metrics = metrics;
        this.session = model.newCompletion();
        // A platform thread: the generation is native calls, which would pin a virtual thread anyway.
        this.worker = Thread.ofPlatform().name("panllama-generation").start(this::serve);
    }

    /**
     * Queues a generation; {@code onText} receives its text on the worker thread.
     *
     * @throws ApiException 429 when {@code maxQueued} requests already wait; 503 once closing
     */
    GenerationJob submit(int[] prompt, GenerationOptions options, Consumer<String> onText) {
        if (closed) {
            throw shuttingDown();
        }
        if (!places.tryAcquire()) {
            throw new ApiException(429, "requests", "The server is busy: " + maxQueued
                    + " requests are already waiting for the model. Retry later.", null, "rate_limit_exceeded");
        }
        GenerationJob job = new GenerationJob(prompt, options, onText);
        waiting.add(job);
        return job;
    }

    /** Requests waiting, the running one not counted. */
    int waitingCount() {
        return waiting.size();
    }

    /** Requests being generated: 0 or 1. */
    int runningCount() {
        return current == null ? 0 : 1;
    }

    /** Tokens the session's KV cache held after the last request. */
    long cachedTokens() {
        return cachedTokens;
    }

    private void serve() {
        while (!closed) {
            GenerationJob job;
            try {
                job = waiting.take();
            } catch (InterruptedException e) {
                return;
            }
            current = job;
            Generation generation = null;
            RuntimeException failure = null;
            try {
                generation = job.generate(session);
            } catch (RuntimeException e) {
                failure = e;
            }
            // Counted, and its place freed, before its client hears: a client that asks at once
            // for the metrics, or sends its next request, finds them up to date.
            if (generation != null) {
                metrics.generation(generation);
            }
            cachedTokens = session.cachedTokens();
            current = null;
            places.release();
            job.finish(generation, failure);
        }
    }

    private void abandonWaiting() {
        List<GenerationJob> abandoned = new ArrayList<>();
        waiting.drainTo(abandoned);
        abandoned.forEach(job -> job.abandon(shuttingDown()));
    }

    private static ApiException shuttingDown() {
        return new ApiException(503, "server_error", "The server is shutting down.", null, "server_shutting_down");
    }

    /** Stops the running generation, fails the waiting ones, ends the worker and frees the session. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        abandonWaiting();
        GenerationJob running = current;
        if (running != null) {
            running.cancel();
        }
        worker.interrupt();
        try {
            worker.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        // A request that got past the closed check as the queue closed is answered too.
        abandonWaiting();
        session.close();
    }
}
