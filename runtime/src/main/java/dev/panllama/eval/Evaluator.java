package dev.panllama.eval;

import dev.panllama.ggml.Backend;
import dev.panllama.ggml.ComputeGraph;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.GraphNode;
import dev.panllama.ggml.Scheduler;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.GraphBlocks;
import dev.panllama.model.GraphBuilder;
import dev.panllama.model.Model;
import dev.panllama.model.ModelConfig;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a model over one token sequence: feeds tokens in micro-batches, keeps their keys and values
 * in the KV cache, and returns the logits asked for. Prompt processing and single-token decoding are
 * the same call with more or fewer tokens. It knows the tokens its cache holds, so callers ask it what
 * a new prompt shares with them rather than keep a copy. Not thread-safe: one sequence, one caller at a
 * time. Once its model is closed every call throws {@link IllegalStateException}.
 */
public final class Evaluator implements AutoCloseable {

    private final Model model;
    private final ModelConfig config;
    private final GraphBuilder builder;
    private final KvCache cache;
    private final Scheduler scheduler;
    private final int maxBatch;
    /** The tokens the cache holds, in order: {@code tokens[0 .. cache.length())}. */
    private int[] tokens = new int[64];

    /** An evaluator with an F16 cache of {@code contextLength} tokens, taking micro-batches of up to {@code maxBatch}. */
    public Evaluator(Model model, int contextLength, int maxBatch) {
        this(model, contextLength, maxBatch, GgmlType.F16);
    }

    /** As {@link #Evaluator(Model, int, int)} with a cache of {@code cacheType}: F16, F32 for exact comparisons, or Q8_0/Q4_0 to save memory. */
    public Evaluator(Model model, int contextLength, int maxBatch, GgmlType cacheType) {
        if (contextLength < 1 || maxBatch < 1) {
            throw new IllegalArgumentException("context length and batch size must be positive");
        }
        if (cacheType != GgmlType.F16 && cacheType != GgmlType.F32 && cacheType != GgmlType.Q8_0 && cacheType != GgmlType.Q4_0) {
            throw new IllegalArgumentException("the KV cache can be F16, F32, Q8_0 or Q4_0, not " + cacheType);
        }
        this.model = model;
        this.config = model.config();
        this.builder = model.architecture().graph();
        this.maxBatch = maxBatch;
        this.cache = new KvCache(config.dims(), config.plan(), layer -> model.placement().layerDevice(layer).bufferType(),
                contextLength, maxBatch, cacheType);
        try {
            this.scheduler = Scheduler.create(model.backends(), GraphBuilder.maxTensors(config));
        } catch (RuntimeException e) {
            cache.close();
            throw e;
        }
    }

    /** How many tokens the sequence holds: the position of the next one. */
    public long position() {
        return cache.length();
    }

    /** How many more tokens the context takes. */
    public long room() {
        return cache.room();
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

    /** Keeps the longest start of the sequence that {@code prompt} shares, as {@link #keep} can; returns its length. */
    public int keepCommonPrefix(int[] prompt) {
        int common = 0;
        long held = cache.length();
        while (common < held && common < prompt.length && tokens[common] == prompt[common]) {
            common++;
        }
        return (int) keep(common);
    }

    /**
     * Appends {@code tokens} to the sequence and returns the logits after each of
     * {@code tokens[firstOutput..]}, one row of {@code n_vocab} per token.
     */
    public float[][] evaluate(int[] tokens, int firstOutput) {
        model.checkOpen();
        if (firstOutput < 0 || firstOutput > tokens.length) {
            throw new IllegalArgumentException("firstOutput " + firstOutput + " is outside 0.." + tokens.length);
        }
        for (int token : tokens) {
            if (token < 0 || token >= config.dims().vocabSize()) {
                throw new IllegalArgumentException("token id " + token + " is outside the vocabulary of " + config.dims().vocabSize());
            }
        }
        // Before the first micro-batch, so that a prompt that cannot fit changes nothing.
        cache.requireRoom(tokens.length);
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

    private float[][] evaluateBatch(int[] batchTokens, int firstOutput) {
        long start = cache.length();
        cache.append(batchTokens.length);
        remember(start, batchTokens);
        // A graph needs at least one output row; when none is wanted, the last one is computed and dropped.
        int computedFrom = Math.min(firstOutput, batchTokens.length - 1);
        BatchInputs.Shape shape = BatchInputs.Shape.of(cache, config.plan().hasChunkedLayers(), batchTokens.length,
                batchTokens.length - computedFrom);
        if (graph == null || !graph.inputs().shape.equals(shape)) {
            buildGraph(shape);
        }
        graph.inputs().fill(start, batchTokens, computedFrom);
        scheduler.compute(graph.graph());
        float[][] computed = graph.logits().readRows(config.dims().vocabSize(), shape.outputs());
        return Arrays.copyOfRange(computed, firstOutput - computedFrom, computed.length);
    }

    private void remember(long start, int[] batchTokens) {
        int end = Math.toIntExact(start + batchTokens.length);
        if (end > tokens.length) {
            tokens = Arrays.copyOf(tokens, Math.max(end, 2 * tokens.length));
        }
        System.arraycopy(batchTokens, 0, tokens, (int) start, batchTokens.length);
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
            Tensor logits = builder.build(new GraphBlocks(ctx, computeGraph, config), model.weights(), inputs);
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

    /**
     * The compute memory this evaluator's scheduler holds on each device, by device name ({@code CPU}
     * for the host): what the largest graph so far needed there.
     */
    public Map<String, Long> computeBytes() {
        Map<String, Long> bytes = new LinkedHashMap<>();
        for (Backend backend : model.backends()) {
            bytes.put(backend.device().name(), scheduler.computeBytes(backend));
        }
        return bytes;
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
