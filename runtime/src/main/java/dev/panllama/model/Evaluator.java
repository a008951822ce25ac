package dev.panllama.model;

import dev.panllama.ggml.Backend;
import dev.panllama.ggml.ComputeGraph;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.GraphNode;
import dev.panllama.ggml.Scheduler;
import dev.panllama.ggml.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * Runs a model over one token sequence: feeds tokens in micro-batches, keeps their keys and values
 * in the KV cache, and returns the logits asked for. Prompt processing and single-token decoding are
 * the same call with more or fewer tokens. Not thread-safe: one sequence, one caller at a time.
 */
public final class Evaluator implements AutoCloseable {

    private final ModelConfig config;
    private final GraphBuilder builder;
    private final ModelWeights weights;
    private final KvCache cache;
    private final Scheduler scheduler;
    private final int maxBatch;

    Evaluator(ModelConfig config, GraphBuilder builder, ModelWeights weights, List<Backend> backends, int contextLength,
              int maxBatch, GgmlType cacheType) {
        this.config = config;
        this.builder = builder;
        this.weights = weights;
        this.maxBatch = maxBatch;
        this.cache = new KvCache(config, backends.getFirst(), contextLength, maxBatch, cacheType);
        try {
            this.scheduler = Scheduler.create(backends, GraphBuilder.maxTensors(config));
        } catch (RuntimeException e) {
            cache.close();
            throw e;
        }
    }

    /** How many tokens the sequence holds: the position of the next one. */
    public long position() {
        return cache.length();
    }

    public int contextLength() {
        return cache.contextLength();
    }

    /** Forgets the sequence. */
    public void reset() {
        cache.clear();
    }

    /**
     * Keeps the first {@code position} tokens of the sequence and forgets the rest, or everything when
     * the cache cannot keep exactly those; returns how many tokens are kept.
     */
    public long keep(long position) {
        if (!cache.truncate(Math.min(position, cache.length()))) {
            cache.clear();
        }
        return cache.length();
    }

    /**
     * Appends {@code tokens} to the sequence and returns the logits after each of
     * {@code tokens[firstOutput..]}, one row of {@code n_vocab} per token.
     */
    public float[][] evaluate(int[] tokens, int firstOutput) {
        if (firstOutput < 0 || firstOutput > tokens.length) {
            throw new IllegalArgumentException("firstOutput " + firstOutput + " is outside 0.." + tokens.length);
        }
        for (int token : tokens) {
            if (token < 0 || token >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + token + " is outside the vocabulary of " + config.vocabSize());
            }
        }
        if (cache.length() + tokens.length > cache.contextLength()) {
            throw new IllegalStateException("the context of " + cache.contextLength() + " tokens cannot take "
                    + tokens.length + " more after " + cache.length());
        }
        float[][] logits = new float[tokens.length - firstOutput][];
        for (int from = 0; from < tokens.length; from += maxBatch) {
            int to = Math.min(tokens.length, from + maxBatch);
            int batchFirstOutput = Math.min(Math.max(firstOutput - from, 0), to - from);
            float[][] batch = evaluateBatch(Arrays.copyOfRange(tokens, from, to), batchFirstOutput);
            if (batch.length > 0) {
                System.arraycopy(batch, 0, logits, from + batchFirstOutput - firstOutput, batch.length);
            }
        }
        return logits;
    }

    private float[][] evaluateBatch(int[] tokens, int firstOutput) {
        long start = cache.length();
        cache.append(start, tokens.length);
        // A graph needs at least one output row; when none is wanted, the last one is computed and dropped.
        int computedFrom = Math.min(firstOutput, tokens.length - 1);
        BatchInputs.Shape shape = BatchInputs.Shape.of(cache, config, tokens.length, tokens.length - computedFrom);
        if (graph == null || !graph.inputs().shape.equals(shape)) {
            buildGraph(shape);
        }
        graph.inputs().fill(config, start, tokens, computedFrom);
        scheduler.compute(graph.graph());
        float[][] computed = graph.logits().readRows(config.vocabSize(), shape.outputs());
        return Arrays.copyOfRange(computed, firstOutput - computedFrom, computed.length);
    }

    /** The graph of the last batch: kept while batches of the same shape follow (decoding, mostly). */
    private record BuiltGraph(GgmlContext ctx, ComputeGraph graph, BatchInputs inputs, Tensor logits) {
    }

    private BuiltGraph graph;

    private void buildGraph(BatchInputs.Shape shape) {
        closeGraph();
        GgmlContext ctx = GgmlContext.create(GraphBuilder.maxTensors(config));
        try {
            ComputeGraph computeGraph = ctx.newGraph();
            BatchInputs inputs = new BatchInputs(ctx, config, cache, shape);
            Tensor logits = builder.build(new GraphBlocks(ctx, computeGraph, config, cache), weights, inputs);
            computeGraph.expand(logits);
            scheduler.allocate(computeGraph);
            graph = new BuiltGraph(ctx, computeGraph, inputs, logits);
        } catch (RuntimeException e) {
            ctx.close();
            throw e;
        }
    }

    private void closeGraph() {
        if (graph != null) {
            graph.ctx().close();
            graph = null;
        }
    }

    /**
     * The nodes of the graph that computed the last batch, in ggml's order: tests compare them with
     * the reference's graph for the same batch.
     */
    public List<GraphNode> lastGraph() {
        if (graph == null) {
            throw new IllegalStateException("no batch has been evaluated yet");
        }
        return graph.graph().nodes();
    }

    /** The model's configuration (vocabulary size, context, layers...). */
    public ModelConfig config() {
        return config;
    }

    @Override
    public void close() {
        closeGraph();
        scheduler.close();
        cache.close();
    }
}
