package dev.panllama.eval;

import dev.panllama.ggml.Backend;
import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.BufferType;
import dev.panllama.ggml.ComputeGraph;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.Scheduler;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.GraphBlocks;
import dev.panllama.model.GraphBuilder;
import dev.panllama.model.Model;
import dev.panllama.model.ModelConfig;
import dev.panllama.placement.FitOptions;
import dev.panllama.placement.MemoryNeeds;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * Measures what a model placed on its devices takes to run with a context and batch size, without
 * allocating it, as llama.cpp's {@code --fit} does: a KV cache placed as an {@link Evaluator} would
 * place it, and ggml's scheduler asked what compute memory each backend needs for the graphs of the
 * largest batch (a full micro-batch over a full context, every row output) and of one decoded token.
 * The model is usually one placed without memory ({@link Model#placeWithoutMemory}).
 *
 * <p>Compute gets 5% headroom: ggml's allocator lays out each graph's tensors greedily, so a batch of
 * another shape (a prompt's last, shorter micro-batch) can need a little more than the largest one
 * (0.2% more was seen on a Maverick-like model).
 */
public final class MemoryMeasure {

    private MemoryMeasure() {
    }

    /** What {@code model} needs with a KV cache whose cells on devices take at most {@code kvDeviceBytes} ({@link FitOptions#KV_ALL}: no limit). */
    public static MemoryNeeds of(Model model, int contextLength, int maxBatch, KvCacheTypes cacheTypes, long kvDeviceBytes) {
        ModelConfig config = model.config();
        List<Backend> backends = model.backends();
        try (KvCache cache = new KvCache(config.dims(), config.plan(), layer -> model.placement().layerDevice(layer).bufferType(),
                contextLength, maxBatch, 1, cacheTypes, kvDeviceBytes, false);
             Scheduler scheduler = Scheduler.create(backends, GraphBuilder.maxTensors(config))) {
            int chunkedCells = config.plan().hasChunkedLayers() ? cache.chunkedCells().count : 0;
            long[] compute = new long[backends.size()];
            // Over the whole context, which reaches past the device tier of split layers: the batch's first
            // tokens then go to that tier, the rest to the host's.
            for (int tokens : new int[] {Math.min(maxBatch, contextLength), 1}) {
                long[] sizes = measureGraph(model, cache, scheduler, new BatchInputs.Shape(tokens, tokens, cache.globalCells().count, chunkedCells,
                        Math.min(tokens, cache.deviceCells(cache.globalCells())), Math.min(tokens, cache.deviceCells(cache.chunkedCells()))));
                for (int i = 0; i < compute.length; i++) {
                    compute[i] = Math.max(compute[i], sizes[i]);
                }
            }
            for (int i = 0; i < compute.length; i++) {
                compute[i] += compute[i] / 20;
            }
            List<MemoryNeeds.Where> where = new ArrayList<>();
            Map<String, Long> weights = model.weights().bytesByBuffer();
            Map<String, Long> kv = cache.bytesByBuffer();
            long hostWeights = weights.values().stream().mapToLong(Long::longValue).sum();
            long hostKv = kv.values().stream().mapToLong(Long::longValue).sum();
            for (int i = 0; i < backends.size() - 1; i++) {
                BackendDevice device = backends.get(i).device();
                String buffer = device.bufferType().name();
                long deviceWeights = weights.getOrDefault(buffer, 0L);
                long deviceKv = kv.getOrDefault(buffer, 0L);
                hostWeights -= deviceWeights;
                hostKv -= deviceKv;
                where.add(new MemoryNeeds.Where(device.name(), deviceWeights, deviceKv, compute[i]));
            }
            // The CPU's backend is the scheduler's last; every buffer type no device owns is host memory.
            where.add(new MemoryNeeds.Where(MemoryNeeds.HOST, hostWeights, hostKv, compute[backends.size() - 1]));
            return new MemoryNeeds(where, model.weights().mappedBytes());
        }
    }

    /**
     * What the KV cache of {@code config}'s model takes on the devices when every layer there ({@code bufferOfLayer}
     * not host memory) keeps its first {@code tokens} cells on its device: the {@code kvDeviceBytes} that
     * sizes the cache so, as the planner asks for it ({@code Planner.KvSizes}), counted at the device tier's types.
     */
    public static long kvDeviceBytes(ModelConfig config, IntFunction<BufferType> bufferOfLayer, int contextLength, int maxBatch,
                                     KvCacheTypes cacheTypes, int tokens) {
        return KvCache.deviceBytes(config.dims(), config.plan(), bufferOfLayer, contextLength, maxBatch, cacheTypes, tokens);
    }

    private static long[] measureGraph(Model model, KvCache cache, Scheduler scheduler, BatchInputs.Shape shape) {
        ModelConfig config = model.config();
        try (GgmlContext ctx = GgmlContext.create(GraphBuilder.maxTensors(config))) {
            ComputeGraph graph = ctx.newGraph();
            BatchInputs inputs = new BatchInputs(ctx, config, cache, shape);
            Tensor logits = model.architecture().graph().build(new GraphBlocks(ctx, graph, config), model.weights(), inputs);
            graph.expand(logits);
            return scheduler.measure(graph);
        }
    }
}
