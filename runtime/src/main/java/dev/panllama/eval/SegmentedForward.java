package dev.panllama.eval;

import dev.panllama.ggml.Backend;
import dev.panllama.ggml.ComputeGraph;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.ReadBuffer;
import dev.panllama.ggml.Scheduler;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.FeedForwardInput;
import dev.panllama.model.GraphBlocks;
import dev.panllama.model.GraphBuilder;
import dev.panllama.model.GraphOutput;
import dev.panllama.model.LayerWeights;
import dev.panllama.model.LayerwiseGraphBuilder;
import dev.panllama.model.Model;
import dev.panllama.model.ModelConfig;
import dev.panllama.model.ModelWeights;
import dev.panllama.model.Routing;
import dev.panllama.placement.ExpertCache;
import dev.panllama.placement.ExpertSplit;

/**
 * The forward pass of a micro-batch with an {@link ExpertCache}: ggml cannot choose inside a graph
 * where an expert is computed, so the pass is computed as segments, each graph ending at the routing
 * of the next cached layer. The host reads which experts the router chose, the cache splits the
 * (token, expert) pairs into hits and misses, and the next segment computes the hits with the slots'
 * copies on the device and the misses with the experts where they live, puts the pairs' outputs back
 * in order and goes on as the one-graph pass does ({@link GraphBlocks#weighAndSum}, the shared expert,
 * the residual). What a segment hands the next (the residual, the feed-forward input, the gating
 * weights) stays on the device, in two sets of tensors used in turn, so that no graph reads what it
 * writes. Segment graphs depend on the hit and miss counts, so they are built for each micro-batch,
 * except for those of a single token: a chat's decode steps meet the same few graphs again and again
 * (per segment, one for each count of hits among the token's experts), so those are kept, each with a
 * scheduler of its own, since ggml's scheduler rewrites a graph's sources for the one graph it last
 * planned. A kept graph is computed again with its inputs rewritten: no building, no planning. They are
 * kept for one batch shape at a time: a decode step's shape changes only when the cells attention reads
 * grow by a block.
 */
final class SegmentedForward implements AutoCloseable {

    /** What a segment leaves for the next: {@code [n_embd, maxBatch]}, {@code [n_embd, maxBatch]}, {@code [n_expert_used, maxBatch]}. */
    private record Carry(Tensor residual, Tensor normed, Tensor weights) {
    }

    /** How long a pass took to build and to compute its graphs, how many it computed and how many of them it built. */
    record Result(long buildNanos, long computeNanos, int graphs, int graphsBuilt) {
    }

    /**
     * One segment's graph and what computing it again takes: its context, inputs and dispatch, the
     * scheduler that planned it (its own when it is kept, whose compute memory it holds) and where it
     * ends (the cached layer whose routing it reads, or -1 with the output rows: logits, or embeddings).
     */
    private record SegmentGraph(GgmlContext ctx, Scheduler scheduler, boolean ownsScheduler, long computeBytes, ComputeGraph graph,
                                BatchInputs inputs, Dispatch dispatch, Tensor selected, Tensor output, int next) implements AutoCloseable {
        @Override
        public void close() {
            ctx.close();
            if (ownsScheduler) {
                scheduler.close();
            }
        }
    }

    /**
     * The most compute memory, on all backends together, that kept segment graphs may hold, beside what
     * the planner counts (it falls within the 1 GiB {@code --fit-target} leaves free by default): a
     * single-token segment needs little (33 graphs of the 16-layer skewed bench model held 1.75 MiB),
     * so this bounds a shape that would need more rather than limits the usual ones.
     */
    private static final long KEPT_COMPUTE_BYTES = 64L << 20;

    private final Model model;
    private final ModelConfig config;
    /** What the last segment gives per output row. */
    private final GraphOutput output;
    private final LayerwiseGraphBuilder builder;
    private final KvCache cache;
    private final Scheduler scheduler;
    private final GgmlContext carryContext;
    private final Carry[] carries = new Carry[2];
    /** The segments' inputs of one micro-batch are the same: their masks are computed once, for the first. */
    private final SharedInputMemory inputMemory = new SharedInputMemory();
    /**
     * Segment graphs of single-token micro-batches of {@link #keptShape}, kept for the next ones: by
     * segment, then by the number of hits among the token's experts (null where not made yet); null
     * when none are kept.
     */
    private SegmentGraph[][] kept;
    private BatchInputs.Shape keptShape;
    private long keptBytes;
    /** The expert cache the kept graphs read the slots of. */
    private ExpertCache keptFor;

    SegmentedForward(Model model, KvCache cache, Scheduler scheduler, int maxBatch, GraphOutput output) {
        if (!(model.architecture().graph() instanceof LayerwiseGraphBuilder layerwise)) {
            throw new IllegalArgumentException("the expert cache is not available for " + model.config().architecture() + " models");
        }
        this.model = model;
        this.config = model.config();
        this.output = output;
        this.builder = layerwise;
        this.cache = cache;
        this.scheduler = scheduler;
        long n = config.dims().embedding();
        int used = config.experts().used();
        this.carryContext = GgmlContext.create(6);
        try {
            for (int i = 0; i < carries.length; i++) {
                carries[i] = new Carry(carryContext.newTensor(GgmlType.F32, n, maxBatch).name("carry_residual_" + i),
                        carryContext.newTensor(GgmlType.F32, n, maxBatch).name("carry_ffn_inp_" + i),
                        carryContext.newTensor(GgmlType.F32, used, maxBatch).name("carry_weights_" + i));
            }
            // The first backend is the device the model offloads to, where the cache's slots are too.
            Backend device = model.backends().getFirst();
            carryContext.allocate(device);
        } catch (RuntimeException e) {
            carryContext.close();
            throw e;
        }
    }

    /**
     * Computes the micro-batch whose inputs are as {@link BatchInputs#fill} takes them, its cache
     * positions already placed, and writes the output (logits, or embeddings) of the rows {@code computed} into {@code logitRows}
     * (none when it has no rows). Ends the cache's step afterwards.
     */
    Result evaluate(ExpertCache experts, BatchInputs.Shape shape, int[] tokens, int[] sequences, long[] positions, int[] computed,
                    float[][] logitRows, ReadBuffer staging) {
        boolean keep = keepsGraphsOf(shape);
        // Kept graphs have one shape, and read the slots of the cache they were made with (a replaced cache has its own).
        if (keep && (keptFor != experts || !shape.equals(keptShape))) {
            forgetKeptGraphs();
            kept = new SegmentGraph[experts.layers().length + 1][config.experts().used() + 1];
            keptFor = experts;
            keptShape = shape;
        }
        int used = config.experts().used();
        long build = 0;
        long compute = 0;
        int built = 0;
        int cut = -1;                // the cached layer the last segment stopped at, -1 before the first
        ExpertSplit split = null;    // that layer's hits and misses
        inputMemory.startBatch();
        for (int segment = 0; ; segment++) {
            long buildStart = System.nanoTime();
            int hits = split == null ? 0 : split.hitPairs().length;
            SegmentGraph graph = keep ? kept[segment][hits] : null;
            boolean closeAfter = graph == null;     // a graph made for this micro-batch alone
            if (graph == null) {
                // Room for the graph's nodes and for its leafs, the weights among them, which its context does not count.
                Scheduler own = keep ? Scheduler.create(model.backends(), 2 * segmentTensors(experts, cut)) : null;
                graph = build(experts, shape, segment, cut, split, tokens, computed, own);
                built++;
            }
            try {
                graph.inputs.fill(tokens, sequences, positions, computed);
                if (graph.dispatch != null) {
                    graph.dispatch.fill(split);
                }
                long computeStart = System.nanoTime();
                build += computeStart - buildStart;
                graph.scheduler.compute(graph.graph);
                compute += System.nanoTime() - computeStart;
                if (closeAfter && keep && keepIfRoom(segment, hits, graph)) {
                    closeAfter = false;
                }
                if (graph.next < 0) {
                    if (logitRows.length > 0) {
                        graph.output.readRows(output.width(config.dims()), logitRows, staging);
                    }
                    experts.endStep();
                    return new Result(build, compute, segment + 1, built);
                }
                split = experts.split(graph.next, graph.selected.readInts(used * rowsAt(graph.next, tokens, computed)));
                cut = graph.next;
            } finally {
                if (closeAfter) {
                    graph.close();
                }
            }
        }
    }

    /**
     * Builds and allocates the segment after cached layer {@code cut} (-1: the first), whose experts
     * {@code split} divides, planned by the scheduler {@code own} (null: the shared one).
     */
    private SegmentGraph build(ExpertCache experts, BatchInputs.Shape shape, int segment, int cut, ExpertSplit split, int[] tokens,
                               int[] computed, Scheduler own) {
        ModelWeights weights = model.weights();
        int layers = config.dims().layers();
        int used = config.experts().used();
        GgmlContext ctx = GgmlContext.create(segmentTensors(experts, cut));
        try {
            ComputeGraph graph = ctx.newGraph();
            GraphBlocks blocks = new GraphBlocks(ctx, graph, config, output);
            BatchInputs inputs = new BatchInputs(ctx, config, cache, shape, inputMemory);
            Tensor x;
            Dispatch dispatch = null;
            if (cut < 0) {
                x = blocks.embed(weights, inputs);
            } else {
                Carry in = carries[(segment - 1) % 2];
                int rows = rowsAt(cut, tokens, computed);
                FeedForwardInput input = new FeedForwardInput(columns(ctx, in.residual(), rows), columns(ctx, in.normed(), rows));
                // The experts chosen are in the split; the gating weights are what the graph needs of the routing.
                Routing routing = new Routing(null, ctx.view(in.weights(), 1, used, rows, 4, 4L * used, 0));
                dispatch = new Dispatch(ctx, split.hitPairs().length, split.missPairs().length);
                Tensor routed = routedExperts(blocks, ctx, weights.layer(cut), experts.slotsOf(cut), input.normed(), routing, dispatch);
                x = builder.feedForward(blocks, weights, cut, input, routed);
            }
            int next = -1;
            Tensor selected = null;
            Tensor outputRows = null;
            for (int il = cut + 1; il < layers && next < 0; il++) {
                FeedForwardInput input = builder.attend(blocks, weights, inputs, il, x);
                if (experts.caches(il)) {
                    Routing routing = blocks.route(weights.layer(il), il, input.normed());
                    Carry out = carries[segment % 2];
                    int rows = rowsAt(il, tokens, computed);
                    graph.expand(ctx.copy(input.residual(), columns(ctx, out.residual(), rows)));
                    graph.expand(ctx.copy(input.normed(), columns(ctx, out.normed(), rows)));
                    graph.expand(ctx.copy(routing.weights(), ctx.view(out.weights(), 1, used, rows, 4, 4L * used, 0)));
                    selected = ctx.output(ctx.cont(routing.selected()).name("ffn_moe_ids-" + il));
                    graph.expand(selected);
                    next = il;
                } else {
                    Tensor routed = config.plan().isMoe(il) ? blocks.experts(weights.layer(il), il, input.normed()) : null;
                    x = builder.feedForward(blocks, weights, il, input, routed);
                }
            }
            if (next < 0) {
                outputRows = blocks.output(weights, x);
                graph.expand(outputRows);
            }
            Scheduler planner = own != null ? own : scheduler;
            planner.allocate(graph);
            long computeBytes = 0;
            if (own != null) {
                for (Backend backend : model.backends()) {
                    computeBytes += own.computeBytes(backend);
                }
            }
            return new SegmentGraph(ctx, planner, own != null, computeBytes, graph, inputs, dispatch, selected, outputRows, next);
        } catch (RuntimeException e) {
            ctx.close();
            if (own != null) {
                own.close();
            }
            throw e;
        }
    }

    /**
     * Whether the segments of micro-batches of {@code shape} are kept for the next ones: those of a
     * single token (a chat's decode steps, where building and planning each segment again would cost
     * more host time than the device takes to compute it) while attention reads no host tier (whose
     * cells in use, joined on the device, would make each kept graph's compute memory grow with the
     * context).
     */
    private boolean keepsGraphsOf(BatchInputs.Shape shape) {
        return shape.tokens() == 1 && withinDeviceTier(cache.globalCells()) && withinDeviceTier(cache.chunkedCells());
    }

    private boolean withinDeviceTier(KvCells group) {
        return group.cellsInUse() <= cache.deviceCells(group);
    }

    /**
     * Keeps {@code graph} as segment {@code segment}'s with {@code hits} hits while the kept graphs' compute
     * memory stays within {@link #KEPT_COMPUTE_BYTES}; false when it is not kept.
     */
    private boolean keepIfRoom(int segment, int hits, SegmentGraph graph) {
        if (keptBytes + graph.computeBytes > KEPT_COMPUTE_BYTES) {
            return false;
        }
        kept[segment][hits] = graph;
        keptBytes += graph.computeBytes;
        return true;
    }

    private void forgetKeptGraphs() {
        if (kept != null) {
            for (SegmentGraph[] variants : kept) {
                for (SegmentGraph graph : variants) {
                    if (graph != null) {
                        graph.close();
                    }
                }
            }
            kept = null;
        }
        keptBytes = 0;
    }

    /**
     * Room for the tensors of the segment after cached layer {@code cut} (-1: the first): the one-graph
     * pass's room per layer for the layers it spans, and room for the inputs, the output and its own
     * dispatch and carries; a segment's context is made for every micro-batch, so no bigger than that.
     */
    private int segmentTensors(ExpertCache experts, int cut) {
        int layers = config.dims().layers();
        int end = layers - 1;
        for (int layer : experts.layers()) {
            if (layer > cut) {
                end = layer;
                break;
            }
        }
        int spanned = end - Math.max(cut, 0) + 1;
        return (int) ((long) GraphBuilder.maxTensors(config) * spanned / layers) + 128;
    }

    /** The tokens layer {@code layer}'s feed-forward block sees: after the last layer's attention only the computed rows go on. */
    private int rowsAt(int layer, int[] tokens, int[] computed) {
        return layer == config.dims().layers() - 1 ? computed.length : tokens.length;
    }

    /** The first {@code rows} columns of a carry tensor. */
    private static Tensor columns(GgmlContext ctx, Tensor carry, int rows) {
        return ctx.view(carry, carry.ne(0), rows, carry.nb(1), 0);
    }

    /**
     * The routed experts' weighted sum of a cached layer: each (token, expert) pair's input row, the hits
     * multiplied by the slots' copies on the device, the misses by the layer's own experts, their
     * outputs put back in pair order and weighted and summed as {@link GraphBlocks#experts} does.
     */
    private Tensor routedExperts(GraphBlocks blocks, GgmlContext ctx, LayerWeights layer, ExpertCache.Slots slots, Tensor normed,
                                 Routing routing, Dispatch dispatch) {
        int used = config.experts().used();
        long n = normed.ne(0);
        long tokens = normed.ne(1);
        Tensor input = blocks.expertInput(normed, routing);   // [n_embd, 1 or used, n_tokens]
        Tensor pairs = ctx.reshape(input.ne(1) == used ? input : ctx.repeat(input, n, used, tokens, 1), n, used * tokens);
        int hits = dispatch.hits;
        int misses = dispatch.misses;
        Tensor hitOutputs = hits == 0 ? null : blocks.expertProducts(slots.gate(), slots.up(), slots.down(),
                ctx.reshape(ctx.getRows(pairs, dispatch.hitPairs), n, 1, hits), dispatch.hitSlots);
        Tensor missOutputs = misses == 0 ? null : blocks.expertProducts(layer.expertsGate(), layer.expertsUp(), layer.expertsDown(),
                ctx.reshape(ctx.getRows(pairs, dispatch.missPairs), n, 1, misses), dispatch.missExperts);
        Tensor outputs;
        if (misses == 0) {
            outputs = hitOutputs;           // every pair a hit, in pair order
        } else if (hits == 0) {
            outputs = missOutputs;
        } else {
            Tensor joined = ctx.concat(ctx.reshape(hitOutputs, n, hits), ctx.reshape(missOutputs, n, misses), 1);
            outputs = ctx.getRows(joined, dispatch.order);
        }
        return blocks.weighAndSum(ctx.reshape(outputs, n, used, tokens), routing);
    }

    /** The inputs that tell a segment's graph which pairs hit and which missed, and where their outputs go. */
    private static final class Dispatch {
        final int hits;
        final int misses;
        final Tensor hitPairs;      // I32 [hits]
        final Tensor hitSlots;      // I32 [1, hits]
        final Tensor missPairs;     // I32 [misses]
        final Tensor missExperts;   // I32 [1, misses]
        final Tensor order;         // I32 [pairs]: where pair p's output lies among the hits' then the misses'

        Dispatch(GgmlContext ctx, int hits, int misses) {
            this.hits = hits;
            this.misses = misses;
            hitPairs = hits == 0 ? null : ctx.input(ctx.newTensor(GgmlType.I32, hits).name("expert_hit_pairs"));
            hitSlots = hits == 0 ? null : ctx.input(ctx.newTensor(GgmlType.I32, 1, hits).name("expert_hit_slots"));
            missPairs = misses == 0 ? null : ctx.input(ctx.newTensor(GgmlType.I32, misses).name("expert_miss_pairs"));
            missExperts = misses == 0 ? null : ctx.input(ctx.newTensor(GgmlType.I32, 1, misses).name("expert_miss_ids"));
            order = hits == 0 || misses == 0 ? null : ctx.input(ctx.newTensor(GgmlType.I32, hits + misses).name("expert_pair_order"));
        }

        /** Writes {@code split}, which has the counts this dispatch was made for. */
        void fill(ExpertSplit split) {
            if (hitPairs != null) {
                hitPairs.write(split.hitPairs());
                hitSlots.write(split.hitSlots());
            }
            if (missPairs != null) {
                missPairs.write(split.missPairs());
                missExperts.write(split.missExperts());
            }
            if (order != null) {
                order.write(split.order());
            }
        }
    }

    @Override
    public void close() {
        forgetKeptGraphs();
        carryContext.close();
        inputMemory.close();
    }
}
