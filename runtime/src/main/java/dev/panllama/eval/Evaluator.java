package dev.panllama.eval;

import dev.panllama.ggml.GraphNode;
import dev.panllama.model.Model;
import dev.panllama.model.ModelConfig;
import dev.panllama.placement.FitOptions;

import java.util.List;
import java.util.Map;

/**
 * Runs a model over one token sequence: a {@link BatchEvaluator} of one sequence, whose cache and
 * micro-batches are then llama.cpp's for a context of one sequence; or one sequence of a shared
 * {@link BatchEvaluator} ({@link #Evaluator(BatchEvaluator, int)}), whose cache the other sequences'
 * evaluators use too, so that a prompt that starts as another sequence's does (a common system prompt)
 * shares that start's cells rather than computing them again. Prompt processing and single-token
 * decoding are the same call with more or fewer tokens. It knows the tokens its cache holds, so callers
 * ask it what a new prompt shares with them rather than keep a copy. One caller at a time per
 * evaluator; the evaluators of one shared cache may be used from several threads, one call at a time.
 * Once its model is closed every call throws {@link IllegalStateException}.
 */
public final class Evaluator implements AutoCloseable {

    private final BatchEvaluator batch;
    private final int sequence;
    /** Whether the batch evaluator is this one's alone, closed with it; else a shared one, of which this has a sequence. */
    private final boolean ownsBatch;

    /** An evaluator with an F16 cache of {@code contextLength} tokens, taking micro-batches of up to {@code maxBatch}. */
    public Evaluator(Model model, int contextLength, int maxBatch) {
        this(model, contextLength, maxBatch, KvCacheTypes.F16);
    }

    /**
     * As {@link #Evaluator(Model, int, int)} with a cache of {@code cacheTypes}: F16, F32 for exact comparisons, or
     * Q8_0/Q4_0 to save memory, for keys and values each.
     */
    public Evaluator(Model model, int contextLength, int maxBatch, KvCacheTypes cacheTypes) {
        this(model, contextLength, maxBatch, cacheTypes, FitOptions.KV_ALL);
    }

    /**
     * As {@link #Evaluator(Model, int, int, KvCacheTypes)}, with the cache's cells on devices taking at most
     * {@code kvDeviceBytes} together and the rest in host memory ({@link FitOptions#KV_ALL}: no limit; see {@link BatchEvaluator}).
     */
    public Evaluator(Model model, int contextLength, int maxBatch, KvCacheTypes cacheTypes, long kvDeviceBytes) {
        this.batch = new BatchEvaluator(model, contextLength, maxBatch, 1, cacheTypes, kvDeviceBytes);
        this.sequence = 0;
        this.ownsBatch = true;
        batch.open(sequence);
    }

    /**
     * The evaluator of sequence {@code sequence} of {@code shared}, which it opens; closing this one
     * removes the sequence (its cells, those no other sequence shares, freed) and leaves {@code shared}
     * open. Calls on evaluators of one shared cache take turns on it.
     *
     * @throws IllegalStateException when the sequence is already open
     */
    public Evaluator(BatchEvaluator shared, int sequence) {
        this.batch = shared;
        this.sequence = sequence;
        this.ownsBatch = false;
        synchronized (shared) {
            shared.open(sequence);
        }
    }

    /** How many tokens the sequence holds: the position of the next one. */
    public long position() {
        synchronized (batch) {
            return batch.position(sequence);
        }
    }

    /** The tokens the sequence holds, in order. */
    public int[] tokens() {
        synchronized (batch) {
            return batch.tokens(sequence);
        }
    }

    /** How many more tokens the context takes. */
    public long room() {
        synchronized (batch) {
            return batch.room();
        }
    }

    public int contextLength() {
        return batch.contextLength();
    }

    /** Bytes of memory the KV cache takes now (see {@link BatchEvaluator#cacheCommittedBytes()}). */
    public long cacheCommittedBytes() {
        synchronized (batch) {
            return batch.cacheCommittedBytes();
        }
    }

    /** The same by buffer type name (see {@link BatchEvaluator#cacheCommittedBytesByBuffer()}). */
    public Map<String, Long> cacheCommittedBytesByBuffer() {
        synchronized (batch) {
            return batch.cacheCommittedBytesByBuffer();
        }
    }

    /** Forgets the sequence. */
    public void reset() {
        synchronized (batch) {
            if (ownsBatch) {
                batch.clear();   // the one sequence: the cache starts over at its first cell, as llama.cpp's does
            } else {
                batch.keep(sequence, 0);
            }
        }
    }

    /**
     * Keeps the first {@code position} tokens of the sequence and forgets the rest, or everything when
     * the cache cannot keep exactly those; returns how many tokens are kept.
     */
    public long keep(long position) {
        synchronized (batch) {
            return batch.keep(sequence, position);
        }
    }

    /**
     * Keeps the longest start of the sequence that {@code prompt} shares, as {@link #keep} can, or, in a
     * shared cache where another sequence holds a longer one, shares that start's cells
     * ({@link BatchEvaluator#keepOrSharePrefix}); returns how many of the prompt's tokens are then held.
     */
    public int keepOrSharePrefix(int[] prompt) {
        synchronized (batch) {
            return batch.keepOrSharePrefix(sequence, prompt);
        }
    }

    /** What the sequence holds (its tokens, cells and their keys and values), for {@link #restore}. */
    public SequenceState save() {
        synchronized (batch) {
            return batch.save(sequence);
        }
    }

    /**
     * Replaces the sequence with a {@link #save}d one, of this evaluator or another of the same model:
     * it continues as the saved sequence would have, without evaluating its tokens again.
     *
     * @throws IllegalArgumentException when the state does not fit this cache (its type, shape or room);
     *                                  the sequence is then empty
     */
    public void restore(SequenceState state) {
        synchronized (batch) {
            reset();
            batch.restore(sequence, state);
        }
    }

    /**
     * Appends {@code tokens} to the sequence and returns the logits after each of
     * {@code tokens[firstOutput..]}, one row of {@code n_vocab} per token.
     */
    public float[][] evaluate(int[] tokens, int firstOutput) {
        synchronized (batch) {
            return batch.evaluate(List.of(new BatchEvaluator.SequenceTokens(sequence, tokens, firstOutput))).getFirst();
        }
    }

    /**
     * Appends {@code token} and writes the logits after it into {@code logits} (at least {@code n_vocab}
     * floats), which it returns: a decoding loop that passes the same array each step copies the logits
     * without allocating a vocabulary of floats for each.
     */
    public float[] evaluateNext(int token, float[] logits) {
        synchronized (batch) {
            batch.evaluate(List.of(new BatchEvaluator.SequenceTokens(sequence, new int[] {token}, 0)), List.<float[][]>of(new float[][] {logits}));
        }
        return logits;
    }

    /**
     * The nodes of the graph that computed the last batch, in ggml's order: tests compare them with
     * the reference's graph for the same batch.
     */
    public List<GraphNode> lastGraph() {
        return batch.lastGraph();
    }

    /** Where the micro-batches since the last {@link #forgetStepTimes()} (or since creation) spent their time. */
    public StepTimes stepTimes() {
        return batch.stepTimes();
    }

    /** Starts {@link #stepTimes()} afresh, e.g. after a warm-up. */
    public void forgetStepTimes() {
        batch.forgetStepTimes();
    }

    /**
     * The compute memory this evaluator's scheduler holds on each device, by device name ({@code CPU}
     * for the host): what the largest graph so far needed there.
     */
    public Map<String, Long> computeBytes() {
        return batch.computeBytes();
    }

    /** The model's configuration (vocabulary size, context, layers...). */
    public ModelConfig config() {
        return batch.config();
    }

    @Override
    public void close() {
        if (ownsBatch) {
            batch.close();
            return;
        }
        synchronized (batch) {
            if (!batch.isClosed() && batch.isOpen(sequence)) {
                batch.remove(sequence);
            }
        }
    }
}
