package dev.panllama.eval;

import dev.panllama.ggml.Backend;
import dev.panllama.ggml.ComputeGraph;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GraphNode;
import dev.panllama.ggml.ReadBuffer;
import dev.panllama.ggml.Scheduler;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.GraphBlocks;
import dev.panllama.model.GraphBuilder;
import dev.panllama.model.GraphOutput;
import dev.panllama.model.Model;
import dev.panllama.model.ModelConfig;
import dev.panllama.placement.ExpertCache;
import dev.panllama.placement.FitOptions;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs a model over several token sequences at once (continuous batching): each call appends tokens
 * to any of the open sequences, all of them evaluated together in micro-batches that mix sequences,
 * and returns each sequence's logits. A sequence opens empty, joins whichever call names it next, and
 * once removed frees its cells for the others. Every sequence has its own positions in one shared KV
 * cache, laid out and masked as llama.cpp's unified cache ({@code kv_unified}, {@code n_seq_max}
 * sequences) does: the context length is the cache's size for all sequences together, not each one's,
 * so one sequence may grow to the whole context while the others hold nothing (llama.cpp's
 * {@code -c} with {@code --parallel} and {@code --kv-unified}). A call's tokens are taken in its order,
 * {@code maxBatch} at a time, as {@code llama_decode} splits a batch for that cache; the same calls give
 * the same logits as libllama's.
 * <p>
 * With the model's expert cache open ({@link Model#openExpertCache}) a micro-batch is computed in
 * segments cut at the cached layers' routing ({@link SegmentedForward}), to the same logits.
 * <p>
 * It knows the tokens each sequence holds, so callers ask it what a new prompt shares with them rather
 * than keep a copy. Not thread-safe: one caller at a time. Once its model is closed every call throws
 * {@link IllegalStateException}.
 */
public final class BatchEvaluator implements AutoCloseable {

    /**
     * Tokens appended to one sequence in a call, and the logits wanted: those after each of
     * {@code tokens[firstOutput..]}.
     */
    public record SequenceTokens(int sequence, int[] tokens, int firstOutput) {
        public SequenceTokens {
            if (firstOutput < 0 || firstOutput > tokens.length) {
                throw new IllegalArgumentException("firstOutput " + firstOutput + " is outside 0.." + tokens.length);
            }
        }
    }

    /**
     * One token's router scores in one mixture-of-experts layer ({@code scores[e]} for expert e; the
     * highest are chosen), as the micro-batch that evaluated the token computed them, with the tokens of
     * its sequence up to and including it ({@code context}), which are all that decide them.
     */
    public record RouterScores(int sequence, int[] context, int layer, float[] scores) {
    }

    private static final Pattern ROUTER_SCORES = Pattern.compile(Pattern.quote(GraphBlocks.ROUTER_SCORES) + "-(\\d+)");

    private final Model model;
    private final ModelConfig config;
    /** What each output row is (logits, or embeddings), and its floats. */
    private final GraphOutput output;
    private final int rowWidth;
    private final GraphBuilder builder;
    private final KvCache cache;
    private final Scheduler scheduler;
    private final int maxBatch;
    private final boolean[] open;
    /** Per sequence, the tokens the cache holds, in order: {@code tokensOf[s][0 .. cache.length(s))}. */
    private final int[][] tokensOf;
    private StepTimes stepTimes = StepTimes.NONE;
    private long prefixesShared;
    private boolean closed;
    /** Where logits computed on a device are copied before they become arrays: pinned memory on a GPU. */
    private final ReadBuffer logitsStaging;
    /** The micro-batch being computed: which sequence and position each token is, and the rows computed. */
    private MicroBatch current;
    /** The pass in segments that the expert cache needs, made at its first use. */
    private SegmentedForward segmented;

    private record MicroBatch(int[] sequences, long[] positions, int[] computed) {
    }

    /**
     * An evaluator of up to {@code sequences} sequences (ids 0 .. sequences - 1, none open yet) sharing a
     * cache of {@code contextLength} tokens of {@code cacheTypes} (F16, F32 for exact comparisons, or
     * Q8_0/Q4_0 to save memory, for keys and values each), taking micro-batches of up to {@code maxBatch} tokens.
     */
    public BatchEvaluator(Model model, int contextLength, int maxBatch, int sequences, KvCacheTypes cacheTypes) {
        this(model, contextLength, maxBatch, sequences, cacheTypes, FitOptions.KV_ALL);
    }

    /**
     * As {@link #BatchEvaluator(Model, int, int, int, KvCacheTypes)}, with the cache's cells on devices taking
     * at most {@code kvDeviceBytes} together, counted at the device tier's types ({@link FitOptions#KV_ALL}: no
     * limit): a layer on a device then keeps its first cells there and the rest in host memory, of the host
     * tier's types (see {@code KvCache}), and attention over both computes what one tier would (with a host
     * tier of other types, what its rows converted to the device tier's types give).
     */
    public BatchEvaluator(Model model, int contextLength, int maxBatch, int sequences, KvCacheTypes cacheTypes, long kvDeviceBytes) {
        this(model, contextLength, maxBatch, sequences, cacheTypes, kvDeviceBytes, GraphOutput.LOGITS);
    }

    /**
     * As {@link #BatchEvaluator(Model, int, int, int, KvCacheTypes, long)}, its rows giving {@code output}: logits,
     * or for {@link GraphOutput#EMBEDDINGS} the hidden states after the final norm ({@code n_embd} floats a row),
     * wherever this class speaks of logits.
     */
    public BatchEvaluator(Model model, int contextLength, int maxBatch, int sequences, KvCacheTypes cacheTypes, long kvDeviceBytes,
                          GraphOutput output) {
        if (contextLength < 1 || maxBatch < 1) {
            throw new IllegalArgumentException("context length and batch size must be positive");
        }
        if (sequences < 1) {
            throw new IllegalArgumentException("the number of sequences must be positive, not " + sequences);
        }
        this.model = model;
        this.config = model.config();
        this.output = output;
        this.rowWidth = output.width(config.dims());
        this.builder = model.architecture().graph();
        this.maxBatch = maxBatch;
        this.open = new boolean[sequences];
        this.tokensOf = new int[sequences][0];
        this.cache = new KvCache(config.dims(), config.plan(), layer -> model.placement().layerDevice(layer).bufferType(),
                contextLength, maxBatch, sequences, cacheTypes, kvDeviceBytes);
        try {
            this.scheduler = Scheduler.create(model.backends(), GraphBuilder.maxTensors(config));
        } catch (RuntimeException e) {
            cache.close();
            throw e;
        }
        this.logitsStaging = new ReadBuffer(model.device());
    }

    /** The most tokens one micro-batch takes. */
    public int maxBatch() {
        return maxBatch;
    }

    /** How many sequences it takes at once: their ids are 0 .. sequences() - 1. */
    public int sequences() {
        return open.length;
    }

    /** Opens {@code sequence}, empty: the next call may append to it. */
    public void open(int sequence) {
        checkId(sequence);
        if (open[sequence]) {
            throw new IllegalStateException("sequence " + sequence + " is already open");
        }
        open[sequence] = true;
    }

    public boolean isOpen(int sequence) {
        checkId(sequence);
        return open[sequence];
    }

    /** Forgets {@code sequence} and frees its cells for the others; its id may be opened again. */
    public void remove(int sequence) {
        requireOpen(sequence);
        cache.truncate(sequence, 0);
        open[sequence] = false;
    }

    /** How many tokens {@code sequence} holds: the position of its next one. */
    public long position(int sequence) {
        requireOpen(sequence);
        return cache.length(sequence);
    }

    /** The tokens {@code sequence} holds, in order. */
    public int[] tokens(int sequence) {
        requireOpen(sequence);
        return Arrays.copyOf(tokensOf[sequence], Math.toIntExact(cache.length(sequence)));
    }

    /** How many more tokens the context takes, in all sequences together. */
    public long room() {
        return cache.room();
    }

    /** The cache's size in tokens, for all sequences together. */
    public int contextLength() {
        return cache.contextLength();
    }

    /** Forgets every sequence's tokens; open sequences stay open, empty, and the cache starts over at its first cell. */
    public void clear() {
        cache.clear();
    }

    /**
     * Keeps the first {@code position} tokens of {@code sequence} and forgets the rest, or all of them
     * when the cache cannot keep exactly those; returns how many tokens are kept.
     */
    public long keep(int sequence, long position) {
        requireOpen(sequence);
        if (!cache.truncate(sequence, Math.min(position, cache.length(sequence)))) {
            cache.truncate(sequence, 0);
        }
        return cache.length(sequence);
    }

    /**
     * Starts {@code to}, open and empty, with the first {@code length} tokens of {@code from}, sharing
     * their keys and values instead of computing them again (a system prompt common to several
     * requests); returns false, changing nothing, when the cache can no longer share exactly those.
     */
    public boolean sharePrefix(int from, int to, int length) {
        requireOpen(from);
        requireOpen(to);
        if (!cache.share(from, to, length)) {
            return false;
        }
        tokensOf[to] = Arrays.copyOf(tokensOf[from], Math.max(length, 64));
        return true;
    }

    /** How many cells of the cache hold keys and values, shared ones counted once. */
    public long cellsInUse() {
        return cache.usedCells();
    }

    /**
     * Bytes of memory the KV cache takes now: in host memory the pages its tokens have written so far
     * (it grows with them, not with the context length), on a device all of its cells there.
     */
    public long cacheCommittedBytes() {
        model.checkOpen();
        requireNotClosed();
        return cache.committedBytes();
    }

    /**
     * {@link #cacheCommittedBytes()} by buffer type name ({@code CPU} for host memory): where a layer's
     * cells are split between a device and the host, what each tier takes.
     */
    public Map<String, Long> cacheCommittedBytesByBuffer() {
        model.checkOpen();
        requireNotClosed();
        return cache.committedBytesByBuffer();
    }

    /** Keeps the longest start of {@code sequence} that {@code prompt} shares, as {@link #keep} can; returns its length. */
    public int keepCommonPrefix(int sequence, int[] prompt) {
        return (int) keep(sequence, commonPrefix(sequence, prompt));
    }

    /**
     * Readies {@code sequence} for {@code prompt} and returns how many of its tokens it then holds: the
     * start its own tokens share with the prompt, or, when another open sequence holds a longer one (a
     * system prompt common to several chats or requests), that start's cells shared with it
     * ({@link #sharePrefix}) instead of computed again, so that the prefix is kept once.
     */
    public int keepOrSharePrefix(int sequence, int[] prompt) {
        int own = commonPrefix(sequence, prompt);
        int donor = -1;
        int donorShares = own;
        for (int other = 0; other < open.length; other++) {
            if (other != sequence && open[other]) {
                int shares = commonPrefix(other, prompt);
                if (shares > donorShares) {
                    donor = other;
                    donorShares = shares;
                }
            }
        }
        if (donor >= 0) {
            keep(sequence, 0);
            if (sharePrefix(donor, sequence, donorShares)) {
                prefixesShared++;
                return donorShares;
            }
        }
        return keepCommonPrefix(sequence, prompt);
    }

    /** How many times {@link #keepOrSharePrefix} started a sequence from another's cells. */
    public long prefixesShared() {
        return prefixesShared;
    }

    /** How many tokens {@code sequence} holds that {@code prompt} starts with, changing nothing: to choose a sequence for it. */
    public int commonPrefix(int sequence, int[] prompt) {
        requireOpen(sequence);
        int[] held = tokensOf[sequence];
        long length = cache.length(sequence);
        int common = 0;
        while (common < length && common < prompt.length && held[common] == prompt[common]) {
            common++;
        }
        return common;
    }

    /** What {@code sequence} holds (its tokens, cells and their keys and values), for {@link #restore}. */
    public SequenceState save(int sequence) {
        requireOpen(sequence);
        model.checkOpen();
        return cache.save(sequence, tokens(sequence));
    }

    /**
     * Gives the open, empty {@code sequence} the tokens and cache rows of a {@link #save}, from this
     * evaluator or another of the same model: it continues as the saved sequence would have.
     *
     * @throws IllegalArgumentException when the state does not fit this cache (its type, shape or room)
     */
    public void restore(int sequence, SequenceState state) {
        requireOpen(sequence);
        model.checkOpen();
        cache.restore(sequence, state);
        tokensOf[sequence] = state.tokens().clone();
    }

    /**
     * Appends each entry's tokens to its sequence, each open and named at most once, and returns per
     * entry, in the call's order, the logits after its tokens {@code firstOutput..}: one row of
     * {@code n_vocab} per token. Nothing changes when the tokens do not fit in the context.
     */
    public List<float[][]> evaluate(List<SequenceTokens> batch) {
        List<float[][]> logits = new ArrayList<>(batch.size());
        for (SequenceTokens entry : batch) {
            logits.add(new float[entry.tokens().length - entry.firstOutput()][rowWidth]);
        }
        evaluate(batch, logits);
        return logits;
    }

    /**
     * As {@link #evaluate(List)}, writing each entry's logits into arrays the caller owns and may reuse
     * from step to step: {@code into.get(e)} has a row of at least {@code n_vocab} floats for each of entry
     * {@code e}'s tokens from {@code firstOutput} on. A decoding loop so copies its logits without
     * allocating a vocabulary of floats a step (about 0.1 ms for 128k tokens, on a GPU most of the host's
     * share of a step).
     */
    public void evaluate(List<SequenceTokens> batch, List<float[][]> into) {
        if (into.size() != batch.size()) {
            throw new IllegalArgumentException(into.size() + " sets of logit rows for " + batch.size() + " entries");
        }
        for (int e = 0; e < batch.size(); e++) {
            SequenceTokens entry = batch.get(e);
            float[][] rows = into.get(e);
            if (rows.length != entry.tokens().length - entry.firstOutput()) {
                throw new IllegalArgumentException("entry " + e + " wants " + (entry.tokens().length - entry.firstOutput())
                        + " rows of logits, given " + rows.length);
            }
            for (float[] row : rows) {
                if (row == null || row.length < rowWidth) {
                    throw new IllegalArgumentException("a row of output needs " + rowWidth + " floats, not "
                            + (row == null ? "none" : row.length));
                }
            }
        }
        model.checkOpen();
        boolean[] named = new boolean[open.length];
        int total = 0;
        for (SequenceTokens entry : batch) {
            requireOpen(entry.sequence());
            if (named[entry.sequence()]) {
                throw new IllegalArgumentException("sequence " + entry.sequence() + " is named twice in one batch");
            }
            named[entry.sequence()] = true;
            for (int token : entry.tokens()) {
                if (token < 0 || token >= config.dims().vocabSize()) {
                    throw new IllegalArgumentException("token id " + token + " is outside the vocabulary of " + config.dims().vocabSize());
                }
            }
            total += entry.tokens().length;
        }
        // Before the first micro-batch, so that tokens that cannot fit change nothing.
        cache.requireRoom(total);
        // The call as llama_batch lays it out: token by token, entry after entry.
        int[] tokens = new int[total];
        int[] sequenceOf = new int[total];
        int[] entryOf = new int[total];
        int[] rowOf = new int[total];   // the token's row in its entry's logits, or -1 when not wanted
        int at = 0;
        for (int e = 0; e < batch.size(); e++) {
            SequenceTokens entry = batch.get(e);
            int[] entryTokens = entry.tokens();
            for (int i = 0; i < entryTokens.length; i++, at++) {
                tokens[at] = entryTokens[i];
                sequenceOf[at] = entry.sequence();
                entryOf[at] = e;
                rowOf[at] = i >= entry.firstOutput() ? i - entry.firstOutput() : -1;
            }
        }
        for (int from = 0; from < total; from += maxBatch) {
            int to = Math.min(total, from + maxBatch);
            int[] outputs = new int[to - from];
            float[][] rows = new float[to - from][];
            int outputCount = 0;
            for (int i = from; i < to; i++) {
                if (rowOf[i] >= 0) {
                    rows[outputCount] = into.get(entryOf[i])[rowOf[i]];
                    outputs[outputCount++] = i - from;
                }
            }
            evaluateMicroBatch(Arrays.copyOfRange(tokens, from, to), Arrays.copyOfRange(sequenceOf, from, to),
                    Arrays.copyOf(outputs, outputCount), Arrays.copyOf(rows, outputCount));
        }
    }

    /** Evaluates one micro-batch and writes the logits of rows {@code outputRows} into {@code logits}, in that order. */
    private void evaluateMicroBatch(int[] tokens, int[] sequences, int[] outputRows, float[][] logits) {
        long start = System.nanoTime();
        long[] positions = cache.append(sequences);
        remember(tokens, sequences, positions);
        // A graph needs at least one output row; when none is wanted, the last one is computed and dropped.
        int[] computed = outputRows.length > 0 ? outputRows : new int[] {tokens.length - 1};
        BatchInputs.Shape shape = BatchInputs.Shape.of(cache, config.plan().hasChunkedLayers(), tokens.length, computed.length);
        current = new MicroBatch(sequences, positions, computed);
        Optional<ExpertCache> experts = model.expertCache();
        if (experts.isPresent()) {
            evaluateInSegments(experts.get(), shape, tokens, sequences, positions, computed, logits, start);
            return;
        }
        long graphBuild = 0;
        boolean rebuilt = graph == null || !graph.inputs().shape.equals(shape);
        if (rebuilt) {
            long buildStart = System.nanoTime();
            buildGraph(shape);
            graphBuild = System.nanoTime() - buildStart;
        }
        graph.inputs().fill(tokens, sequences, positions, computed);
        long computeStart = System.nanoTime();
        model.computeAlone(() -> scheduler.compute(graph.graph()));
        long compute = System.nanoTime() - computeStart;
        // The row computed when none is wanted is not read: a prompt's micro-batches would each copy a vocabulary of floats for nothing.
        if (logits.length > 0) {
            graph.logits().readRows(rowWidth, logits, logitsStaging);
        }
        stepTimes = stepTimes.plus(System.nanoTime() - start, compute, graphBuild, 1, rebuilt ? 1 : 0);
    }

    /**
     * Evaluates one micro-batch with the model's expert cache ({@link SegmentedForward}): the reused
     * graph of the one-graph pass is dropped, since the scheduler then computes other graphs.
     */
    private void evaluateInSegments(ExpertCache experts, BatchInputs.Shape shape, int[] tokens, int[] sequences, long[] positions,
                                    int[] computed, float[][] logits, long start) {
        closeGraph();
        if (segmented == null) {
            segmented = new SegmentedForward(model, cache, scheduler, maxBatch, output);
        }
        SegmentedForward.Result[] result = new SegmentedForward.Result[1];
        // The model's cache at the lock: another thread may have replaced it since (a cache is replaced, never removed).
        model.computeAlone(() -> result[0] = segmented.evaluate(model.expertCache().orElse(experts), shape, tokens, sequences, positions,
                computed, logits, logitsStaging));
        SegmentedForward.Result pass = result[0];
        stepTimes = stepTimes.plus(System.nanoTime() - start, pass.computeNanos(), pass.buildNanos(), pass.graphs(), pass.graphsBuilt());
    }

    private void remember(int[] tokens, int[] sequences, long[] positions) {
        for (int i = 0; i < tokens.length; i++) {
            int s = sequences[i];
            int position = Math.toIntExact(positions[i]);
            if (position >= tokensOf[s].length) {
                tokensOf[s] = Arrays.copyOf(tokensOf[s], Math.max(64, 2 * position + 1));
            }
            tokensOf[s][position] = tokens[i];
        }
    }

    private void checkId(int sequence) {
        if (sequence < 0 || sequence >= open.length) {
            throw new IllegalArgumentException("sequence " + sequence + " is outside 0.." + (open.length - 1));
        }
    }

    private void requireNotClosed() {
        if (closed) {
            throw new IllegalStateException("the evaluator is closed");
        }
    }

    private void requireOpen(int sequence) {
        requireNotClosed();
        checkId(sequence);
        if (!open[sequence]) {
            throw new IllegalStateException("sequence " + sequence + " is not open");
        }
    }

    /** The graph of the last micro-batch: kept while micro-batches of the same shape follow (decoding, mostly). */
    private record BuiltGraph(GgmlContext ctx, ComputeGraph graph, BatchInputs inputs, Tensor logits) {
    }

    private BuiltGraph graph;

    private void buildGraph(BatchInputs.Shape shape) {
        closeGraph();
        GgmlContext ctx = GgmlContext.create(GraphBuilder.maxTensors(config));
        try {
            ComputeGraph computeGraph = ctx.newGraph();
            BatchInputs inputs = new BatchInputs(ctx, config, cache, shape);
            Tensor logits = builder.build(new GraphBlocks(ctx, computeGraph, config, output), model.weights(), inputs);
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
     * The nodes of the graph that computed the last micro-batch, in ggml's order: tests compare them
     * with the reference's graph for the same batch.
     */
    public List<GraphNode> lastGraph() {
        if (graph == null) {
            throw new IllegalStateException("no batch has been evaluated yet");
        }
        return graph.graph().nodes();
    }

    /**
     * Hands {@code observer}, on the evaluating thread, the router scores of every token in every
     * mixture-of-experts layer as each micro-batch computes them; null stops. In the last layer only the
     * tokens whose logits are computed reach the experts. Evaluating is slower meanwhile (see
     * {@link Scheduler#observe}): this is for tests that check which experts a batch chose.
     */
    public void observeRouters(Consumer<RouterScores> observer) {
        if (observer == null) {
            scheduler.observe(null, null);
            return;
        }
        int lastLayer = config.dims().layers() - 1;
        scheduler.observe(name -> ROUTER_SCORES.matcher(name).matches(), (name, rows) -> {
            Matcher matcher = ROUTER_SCORES.matcher(name);
            matcher.matches();
            int layer = Integer.parseInt(matcher.group(1));
            for (int r = 0; r < rows.length; r++) {
                // The last layer's experts see only the computed rows (see GraphBlocks.attentionResidual).
                int token = layer == lastLayer ? current.computed()[r] : r;
                int sequence = current.sequences()[token];
                int position = Math.toIntExact(current.positions()[token]);
                observer.accept(new RouterScores(sequence, Arrays.copyOf(tokensOf[sequence], position + 1), layer, rows[r]));
            }
        });
    }

    /** Where the micro-batches since the last {@link #forgetStepTimes()} (or since creation) spent their time. */
    public StepTimes stepTimes() {
        return stepTimes;
    }

    /** Starts {@link #stepTimes()} afresh, e.g. after a warm-up. */
    public void forgetStepTimes() {
        stepTimes = StepTimes.NONE;
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

    /** Whether {@link #close} has run. */
    public boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        closeGraph();
        if (segmented != null) {
            segmented.close();
        }
        scheduler.close();
        cache.close();
        logitsStaging.close();
    }
}
