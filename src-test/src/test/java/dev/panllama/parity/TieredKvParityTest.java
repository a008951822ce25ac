package dev.panllama.parity;

import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.eval.BatchEvaluator;
import dev.panllama.eval.Evaluator;
import dev.panllama.eval.KvCacheTypes;
import dev.panllama.eval.SequenceState;
import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.RpcServers;
import dev.panllama.model.Model;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.placement.FitOptions;
import dev.panllama.placement.MemoryNeeds;
import dev.panllama.placement.Offload;
import dev.panllama.placement.Plan;
import dev.panllama.reference.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A KV cache split between a device and host memory: every layer on the RPC device of
 * {@link RpcOffloadParityTest} (a real second device with its own buffers), the cache's device share
 * limited so that both groups of layers keep their first cells on the device and the rest in host
 * memory, and a prompt long enough that its cells are in both tiers in both groups (micro-batches
 * straddle the boundary, later ones and the decode steps write into the host tier only). Its logits must be those of the same model with the whole cache on the device, bit for bit, and
 * libllama's with the cache on the device (llama.cpp has no such split) within the suite's tolerances;
 * the memory each tier takes is what the budget gives it.
 */
class TieredKvParityTest {

    private static final int THREADS = 2;
    private static final int UBATCH = 512;
    private static final int CONTEXT = 4096;
    private static final int PROMPT = 3000;
    private static final int STEPS = 4;
    /** The prompt rows compared: its last ones, and every decode step's. */
    private static final int COMPARED_PROMPT_ROWS = 64;

    @TempDir
    static Path work;

    /**
     * One run of panllama: the last prompt rows' and each greedy step's logits, the greedy ids, the cache's
     * bytes by buffer after them, the sequence saved after the prompt, and the compute memory by device.
     */
    private record Run(float[][] logits, int[] greedy, Map<String, Long> committed, SequenceState afterPrompt, Map<String, Long> compute) {
        float[][] stepLogits() {
            return Arrays.copyOfRange(logits, COMPARED_PROMPT_ROWS, logits.length);
        }
    }

    /**
     * 4 layers (chunked, chunked, chunked, global; chunks of 8192 tokens, as llama.cpp's llama4), one KV
     * head of 128: a cell of a layer takes {@link #CELL_BYTES}.
     */
    private static final RandomModelSpec SPEC = new RandomModelSpec("llama4", 4, 256, 2, 1, 128, 512, 4, 1, 256, 1, -1, 0, 8192,
            500000f, 1e-5f, GgmlType.F32, true, true, "llama4", 41);
    /** F16 keys and values of one cell of one layer. */
    private static final long CELL_BYTES = 2 * 128 * 2;
    private static final int CHUNKED_CELLS = CONTEXT;   // a chunk and a micro-batch, but not more than the context
    private static final int GLOBAL_CELLS = CONTEXT;
    /**
     * The cache's device share. The chunked layers' comes first: 2 MiB / (3 layers * 512 B) is 1365 cells,
     * 1280 in whole blocks; the 128 KiB left gives the global layer 256 cells.
     */
    private static final long BUDGET = 2L << 20;
    private static final int CHUNKED_ON_DEVICE = 1280;
    private static final int GLOBAL_ON_DEVICE = 256;
    private static final long DEVICE_TIER = (3L * CHUNKED_ON_DEVICE + GLOBAL_ON_DEVICE) * CELL_BYTES;
    private static final long HOST_TIER = (3L * (CHUNKED_CELLS - CHUNKED_ON_DEVICE) + (GLOBAL_CELLS - GLOBAL_ON_DEVICE)) * CELL_BYTES;
    private static final long ONE_TIER = (3L * CHUNKED_CELLS + GLOBAL_CELLS) * CELL_BYTES;
    /** The cells of the host tiers under {@link #BUDGET} at F16 on the device. */
    private static final long HOST_CELLS = 3L * (CHUNKED_CELLS - CHUNKED_ON_DEVICE) + (GLOBAL_CELLS - GLOBAL_ON_DEVICE);

    @Test
    void attentionOverBothTiersComputesWhatOneTierDoes() throws IOException, InterruptedException {
        Path model = ModelParityTest.write(work, new ModelParityTest.Case("tiered", SPEC, UBATCH));
        Reference reference = new Reference(work);
        int[] prompt = promptOf(model, 10, 1400, PROMPT);

        RpcServerProcess server = RpcServerProcess.shared();
        String rpcBuffer = server.buffer();
        Run oneTier = run(model, server.endpoint(), prompt, KvCacheTypes.F16, FitOptions.KV_ALL);
        Run tiered = run(model, server.endpoint(), prompt, KvCacheTypes.F16, BUDGET);

        // The accounting: the device tier exactly what the budget gives it, the host tier the pages its cells have written.
        assertEquals(DEVICE_TIER, tiered.committed().get(rpcBuffer), "device tier: " + tiered.committed());
        assertTrue(DEVICE_TIER <= BUDGET);
        long hostCommitted = tiered.committed().getOrDefault("CPU", 0L);
        // The host tiers hold the cells of positions 1280 to 3003 (chunked layers) and 256 to 3003 (global),
        // one position per cell, in 8 tensors whose last pages (4 KiB, or up to 64 KiB) are partly written.
        long hostWritten = (3L * (PROMPT + STEPS - CHUNKED_ON_DEVICE) + (PROMPT + STEPS - GLOBAL_ON_DEVICE)) * CELL_BYTES;
        assertTrue(hostCommitted >= hostWritten && hostCommitted <= hostWritten + 8 * 65536,
                "host tier committed " + hostCommitted + " bytes, expected " + hostWritten + " and the rest of their pages");
        assertEquals(ONE_TIER, oneTier.committed().get(rpcBuffer), "one tier: " + oneTier.committed());
        assertEquals(0L, oneTier.committed().getOrDefault("CPU", 0L), "one tier: " + oneTier.committed());
        System.out.printf("tiered KV cache: device %d bytes (%d chunked, %d global cells per layer), host %d bytes committed of %d reserved; "
                        + "one tier: device %d bytes%n", tiered.committed().get(rpcBuffer), CHUNKED_ON_DEVICE, GLOBAL_ON_DEVICE, hostCommitted,
                HOST_TIER, oneTier.committed().get(rpcBuffer));

        // (b) The same as the cache in one tier, bit for bit, and the same greedy steps.
        assertArrayEquals(oneTier.greedy(), tiered.greedy(), "greedy steps");
        ModelParityTest.Comparison againstOneTier = ModelParityTest.Comparison.of(oneTier.logits(), tiered.logits());
        System.out.printf("tiered against one tier, last %d prompt rows and %d steps: max %.2e%n", COMPARED_PROMPT_ROWS, STEPS,
                againstOneTier.max());
        assertSameRows(oneTier.logits(), tiered.logits(), "tiered against one tier");

        // A sequence saved from one cache and restored into the other continues as it did, each row from the right tier.
        assertSameRows(tiered.stepLogits(),
                continueFrom(model, server.endpoint(), tiered.afterPrompt(), tiered.greedy(), KvCacheTypes.F16, FitOptions.KV_ALL),
                "tiered, saved and restored into one tier");
        assertSameRows(oneTier.stepLogits(), continueFrom(model, server.endpoint(), oneTier.afterPrompt(), oneTier.greedy(), KvCacheTypes.F16, BUDGET),
                "one tier, saved and restored into tiers");

        // (a) libllama with the same model, the whole cache on the same device, the same -c and micro-batch.
        Reference.Settings settings = new Reference.Settings(UBATCH, THREADS, CONTEXT)
                .with(new Reference.Offloading(List.of(server.endpoint()), -1, List.of(), false, 0));
        int[] tokens = Arrays.copyOf(prompt, PROMPT + STEPS);
        System.arraycopy(tiered.greedy(), 0, tokens, PROMPT, STEPS);
        float[][] expected = reference.logits(model, tokens, PROMPT - COMPARED_PROMPT_ROWS, settings, 128256);
        int[] expectedGreedy = reference.greedy(model, prompt, STEPS, settings);
        ModelParityTest.Comparison comparison = ModelParityTest.Comparison.of(expected, tiered.logits());
        int agreeing = 0;
        while (agreeing < STEPS && expectedGreedy[agreeing] == tiered.greedy()[agreeing]) {
            agreeing++;
        }
        System.out.printf("tiered against libllama, last %d prompt rows and %d steps: median %.2e, max %.2e, top-1 agrees %.1f%%, "
                        + "greedy agrees %d of %d steps%n", COMPARED_PROMPT_ROWS, STEPS, comparison.median(), comparison.max(),
                100 * comparison.top1Agreement(), agreeing, STEPS);
        comparison.assertWithin(1e-3, 0.95, "tiered KV cache against libllama");
    }

    /**
     * A Q8_0 cache (quantized rows, which joining the tiers copies whole) split as above, with
     * 3 * 1024 chunked and 512 global cells of 272 bytes on the device, a 1500-token prompt past both.
     */
    @Test
    void aQuantizedCacheInTiersComputesWhatOneTierDoes() throws IOException, InterruptedException {
        Path model = ModelParityTest.write(work, new ModelParityTest.Case("tiered-q8", SPEC, UBATCH));
        int[] prompt = promptOf(model, 12, 700, 1500);
        long cellBytes = 2 * GgmlType.Q8_0.rowBytes(128);
        long budget = (3L * 1024 + 512) * cellBytes;
        RpcServerProcess server = RpcServerProcess.shared();
        Run oneTier = run(model, server.endpoint(), prompt, KvCacheTypes.of(GgmlType.Q8_0), FitOptions.KV_ALL);
        Run tiered = run(model, server.endpoint(), prompt, KvCacheTypes.of(GgmlType.Q8_0), budget);
        assertEquals(budget, tiered.committed().get(server.buffer()), "device tier: " + tiered.committed());
        assertArrayEquals(oneTier.greedy(), tiered.greedy(), "greedy steps");
        assertSameRows(oneTier.logits(), tiered.logits(), "Q8_0 cache, tiered against one tier");
    }

    /**
     * A host tier of Q8_0 under a device tier of F16 ({@code --cache-type-host q8_0}), split by the same budget
     * (the device tier counted at F16, so the same cells): the host tier takes 272 bytes a cell, not 512, and
     * attention converts its rows to F16 on the CPU before joining them to the device's. The logits are the
     * one-tier F16 cache's within the suite's quantized tolerances, not bit for bit (the host tier's rows
     * were rounded), with the same greedy steps; the device's compute memory is at most the F16 host tier's,
     * since it receives the rows converted. A sequence saved from it continues bit for bit restored into
     * the same configuration, and is refused by a cache with an F16 host tier, or whose tiers start elsewhere.
     */
    @Test
    void aQ8HostTierUnderAnF16DeviceTierComputesWhatOneF16TierDoesWithinRounding() throws IOException, InterruptedException {
        Path model = ModelParityTest.write(work, new ModelParityTest.Case("tiered-host-q8", SPEC, UBATCH));
        int[] prompt = promptOf(model, 10, 1400, PROMPT);
        KvCacheTypes hostQ8 = KvCacheTypes.F16.withHostTier(GgmlType.Q8_0);
        long hostCellBytes = 2 * GgmlType.Q8_0.rowBytes(128);
        RpcServerProcess server = RpcServerProcess.shared();
        Run oneTier = run(model, server.endpoint(), prompt, KvCacheTypes.F16, FitOptions.KV_ALL);
        Run tiered = run(model, server.endpoint(), prompt, hostQ8, BUDGET);
        Run f16Tiers = run(model, server.endpoint(), prompt, KvCacheTypes.F16, BUDGET);

        // The conversion runs on the CPU: the host's compute memory holds its F32 and F16 copies (left to ggml's
        // scheduler, it would convert on the device, beside attention, and the host's would be the F16 tier's), and
        // the device, which receives F16 rows as from an F16 host tier, takes no more (its allocator lays the two
        // graphs out a little differently).
        assertTrue(tiered.compute().get("RPC0") <= f16Tiers.compute().get("RPC0"), "device compute: " + tiered.compute()
                + ", with an F16 host tier " + f16Tiers.compute());
        assertTrue(tiered.compute().get("CPU") > f16Tiers.compute().get("CPU"), "host compute: " + tiered.compute()
                + ", with an F16 host tier " + f16Tiers.compute());

        assertEquals(DEVICE_TIER, tiered.committed().get(server.buffer()), "device tier: " + tiered.committed());
        long hostCommitted = tiered.committed().getOrDefault("CPU", 0L);
        long hostWritten = (3L * (PROMPT + STEPS - CHUNKED_ON_DEVICE) + (PROMPT + STEPS - GLOBAL_ON_DEVICE)) * hostCellBytes;
        assertTrue(hostCommitted >= hostWritten && hostCommitted <= hostWritten + 8 * 65536,
                "Q8_0 host tier committed " + hostCommitted + " bytes, expected " + hostWritten + " and the rest of their pages");
        ModelOptions options = ModelOptions.defaults().withThreads(THREADS).withContextLength(CONTEXT).withBatchSize(UBATCH)
                .withRpcServers(List.of(server.endpoint())).withCacheTypes(hostQ8);
        Plan plan = LlamaModel.plan(model, options.withFit(options.fit().withKvDeviceMemory(BUDGET))).orElseThrow();
        assertEquals(DEVICE_TIER, plan.needs().devices().getFirst().kv(), "the device's KV cache, F16");
        assertEquals(HOST_CELLS * hostCellBytes, plan.needs().host().kv(), "the host's KV cache, Q8_0");
        System.out.printf("Q8_0 host tier under F16: device %d bytes, host %d bytes committed, %d reserved (%d cells of %d bytes; "
                + "F16 would reserve %d)%n", tiered.committed().get(server.buffer()), hostCommitted, plan.needs().host().kv(), HOST_CELLS,
                hostCellBytes, HOST_TIER);

        assertArrayEquals(oneTier.greedy(), tiered.greedy(), "greedy steps");
        ModelParityTest.Comparison againstOneTier = ModelParityTest.Comparison.of(oneTier.logits(), tiered.logits());
        System.out.printf("Q8_0 host tier against one F16 tier, last %d prompt rows and %d steps: median %.2e, max %.2e, top-1 agrees %.1f%%%n",
                COMPARED_PROMPT_ROWS, STEPS, againstOneTier.median(), againstOneTier.max(), 100 * againstOneTier.top1Agreement());
        againstOneTier.assertWithin(1e-2, 0.90, "Q8_0 host tier against one F16 tier");
        assertTrue(againstOneTier.max() > 0, "the host tier's rows were not rounded to Q8_0");

        assertSameRows(tiered.stepLogits(), continueFrom(model, server.endpoint(), tiered.afterPrompt(), tiered.greedy(), hostQ8, BUDGET),
                "Q8_0 host tier, saved and restored into the same configuration");
        IllegalArgumentException otherHostType = assertThrows(IllegalArgumentException.class,
                () -> continueFrom(model, server.endpoint(), tiered.afterPrompt(), tiered.greedy(), KvCacheTypes.F16, BUDGET));
        assertEquals("its KV cache is K f16, V f16 (host tier K q8_0, V q8_0), this one is K f16, V f16 "
                + "(--cache-type f16 --cache-type-host q8_0 restores it)", otherHostType.getMessage());
        // Twice the budget: 2560 chunked cells on the device, where the saved rows of cells 1280.. came from the host tier.
        IllegalArgumentException otherTiers = assertThrows(IllegalArgumentException.class,
                () -> continueFrom(model, server.endpoint(), tiered.afterPrompt(), tiered.greedy(), hostQ8, 2 * BUDGET));
        assertTrue(otherTiers.getMessage().contains("would land in this cache's device tier")
                && otherTiers.getMessage().endsWith("the --kv-device-memory it was saved with restores it"), otherTiers.getMessage());
    }

    /**
     * Two sequences sharing the tiered cache, as a server's do: both prompts in one call (micro-batches
     * that mix them and straddle the tiers), the first removed, the second continued into the cells it
     * freed (the device tiers, while host cells of the second are in use) and decoded a few steps. Every
     * row of logits is the one-tier cache's, bit for bit.
     */
    @Test
    void sequencesSharingTheTieredCacheComputeWhatOneTierDoes() throws IOException, InterruptedException {
        Path model = ModelParityTest.write(work, new ModelParityTest.Case("tiered-batch", SPEC, UBATCH));
        int[] text = promptOf(model, 11, 1000, 2600);
        RpcServerProcess server = RpcServerProcess.shared();
        List<float[]> oneTier = sequences(model, server.endpoint(), text, FitOptions.KV_ALL);
        List<float[]> tiered = sequences(model, server.endpoint(), text, BUDGET);
        assertSameRows(oneTier.toArray(float[][]::new), tiered.toArray(float[][]::new), "two sequences, tiered against one tier");
    }

    /** The rows of {@link #sequencesSharingTheTieredCacheComputeWhatOneTierDoes}, with the cache's device share at most {@code kvDeviceBytes}. */
    private static List<float[]> sequences(Path model, String endpoint, int[] text, long kvDeviceBytes) {
        List<BackendDevice> devices = RpcServers.connect(List.of(endpoint));
        List<float[]> rows = new ArrayList<>();
        try (Model m = Model.open(model, THREADS, true, fraction -> { }, devices, new Offload(Offload.ALL_LAYERS, List.of(), false, 0));
             BatchEvaluator evaluator = new BatchEvaluator(m, CONTEXT, UBATCH, 2, KvCacheTypes.F16, kvDeviceBytes)) {
            evaluator.open(0);
            evaluator.open(1);
            List<float[][]> prompts = evaluator.evaluate(List.of(
                    new BatchEvaluator.SequenceTokens(0, Arrays.copyOfRange(text, 0, 1200), 1199),
                    new BatchEvaluator.SequenceTokens(1, Arrays.copyOfRange(text, 1200, 2000), 799)));
            prompts.forEach(r -> rows.addAll(List.of(r)));
            evaluator.remove(0);
            float[] last = evaluator.evaluate(List.of(new BatchEvaluator.SequenceTokens(1, Arrays.copyOfRange(text, 2000, 2600), 599)))
                    .getFirst()[0];
            rows.add(last);
            for (int step = 0; step < STEPS; step++) {
                last = evaluator.evaluate(List.of(new BatchEvaluator.SequenceTokens(1, new int[] {ModelParityTest.argmax(last)}, 0)))
                        .getFirst()[0];
                rows.add(last);
            }
        }
        return rows;
    }

    /**
     * The plan ({@code info --plan} prints its lines) measures the cache with its device share: the KV
     * bytes on the device and on the host are each tier's, which together are the cache's.
     */
    @Test
    void thePlanShowsTheKvBytesOfEachTier() throws IOException, InterruptedException {
        Path model = ModelParityTest.write(work, new ModelParityTest.Case("tiered-plan", SPEC, UBATCH));
        RpcServerProcess server = RpcServerProcess.shared();
        ModelOptions options = ModelOptions.defaults().withThreads(THREADS).withContextLength(CONTEXT).withBatchSize(UBATCH)
                .withRpcServers(List.of(server.endpoint()));
        Plan oneTier = LlamaModel.plan(model, options).orElseThrow();
        Plan tiered = LlamaModel.plan(model, options.withFit(options.fit().withKvDeviceMemory(BUDGET))).orElseThrow();
        tiered.describe().forEach(line -> System.out.println("tiered plan: " + line));
        MemoryNeeds.Where device = tiered.needs().devices().getFirst();
        assertEquals(DEVICE_TIER, device.kv(), "the device's KV cache");
        assertEquals(HOST_TIER, tiered.needs().host().kv(), "the host's KV cache");
        assertEquals(ONE_TIER, oneTier.needs().devices().getFirst().kv(), "the device's KV cache without a budget");
        assertEquals(0, oneTier.needs().host().kv(), "the host's KV cache without a budget");
        assertTrue(tiered.describe().stream().anyMatch(l -> l.contains("KV cache") && l.contains(String.format(Locale.ROOT, "%.1f MiB",
                HOST_TIER / 1048576.0)) && l.trim().startsWith("host")), String.join("\n", tiered.describe()));
    }

    /**
     * With {@code --kv-device-memory auto} (the default) and a device that cannot hold the whole context's
     * cache beside the weights, the planner keeps every weight on the device, as it would with only
     * {@code --fit-ctx} tokens of context, and gives the cache what is left: the device full to within two
     * blocks of cells, the rest of the context in host memory. The model opened so computes what the cache
     * in one tier computes, bit for bit, over a prompt whose cells reach the host tier; llama.cpp's way
     * ({@code all}) keeps weights off the device instead.
     */
    @Test
    void thePlannerGivesTheCacheWhatTheDeviceLeavesOnceTheWeightsAreOnIt() throws IOException, InterruptedException {
        Path model = ModelParityTest.write(work, new ModelParityTest.Case("tiered-planned", SPEC, UBATCH));
        int[] prompt = promptOf(model, 13, 800, 2000);
        RpcServerProcess server = RpcServerProcess.shared();
        ModelOptions unlimited = ModelOptions.defaults().withThreads(THREADS).withContextLength(CONTEXT).withBatchSize(UBATCH)
                .withRpcServers(List.of(server.endpoint()));
        MemoryNeeds.Where everything = LlamaModel.plan(model, unlimited).orElseThrow().needs().devices().getFirst();
        assertEquals(ONE_TIER, everything.kv(), "with room for all, the whole cache is on the device");
        // Room for the weights, the compute and half the cache.
        long budget = everything.total() - ONE_TIER / 2;
        ModelOptions options = unlimited.withFit(unlimited.fit().withDeviceMemory(Map.of(server.buffer(), budget)).withMinDeviceContext(512));
        Plan planned = LlamaModel.plan(model, options).orElseThrow();
        Plan whole = LlamaModel.plan(model, options.withFit(options.fit().withKvDeviceMemory(FitOptions.KV_ALL))).orElseThrow();
        planned.describe().forEach(line -> System.out.println("planned KV tier: " + line));
        MemoryNeeds.Where device = planned.needs().devices().getFirst();
        // The search stops within a block of cells in each of the 4 layers, and the cache rounds a budget down to whole blocks.
        long block = 4L * 256 * CELL_BYTES;
        assertEquals(everything.weights(), device.weights(), "every weight on the device");
        assertTrue(whole.needs().devices().getFirst().weights() < device.weights(), "llama.cpp's way keeps as many weights on the device");
        assertTrue(device.total() <= budget && device.total() > budget - 2 * block, "device " + device.total() + " of " + budget);
        assertTrue(device.kv() < ONE_TIER && device.kv() + planned.needs().host().kv() == ONE_TIER, "tiers " + device.kv()
                + " + " + planned.needs().host().kv() + " of " + ONE_TIER);
        assertTrue(planned.describe().stream().anyMatch(l -> l.contains("KV cache: each layer on a device keeps its first cells there")),
                String.join("\n", planned.describe()));

        Run oneTier = run(model, server.endpoint(), prompt, KvCacheTypes.F16, FitOptions.KV_ALL);
        float[][] rows;
        Map<String, Long> committed;
        try (LlamaModel opened = LlamaModel.open(model, options); Evaluator evaluator = opened.newEvaluator()) {
            rows = evaluator.evaluate(prompt, prompt.length - COMPARED_PROMPT_ROWS);
            committed = evaluator.cacheCommittedBytesByBuffer();
        }
        assertEquals(device.kv(), committed.get(server.buffer()), "the device tier opened as planned");
        assertTrue(committed.getOrDefault("CPU", 0L) > 0, "no cell in the host tier: " + committed);
        assertSameRows(Arrays.copyOf(oneTier.logits(), COMPARED_PROMPT_ROWS), rows, "planned tiers against one tier");
    }

    /**
     * The plan counts each tier at its own types: with Q8_0 keys and F16 values (392 bytes a cell) the budget
     * gives the chunked layers 1536 device cells each and the global layer 512, and their host tiers, of
     * Q4_0 ({@code --cache-type-host q4_0}), take 144 bytes a cell.
     */
    @Test
    void thePlanCountsEachTierAtItsOwnTypes() throws IOException, InterruptedException {
        Path model = ModelParityTest.write(work, new ModelParityTest.Case("tiered-plan-types", SPEC, UBATCH));
        RpcServerProcess server = RpcServerProcess.shared();
        KvCacheTypes types = KvCacheTypes.of(GgmlType.Q8_0, GgmlType.F16).withHostTier(GgmlType.Q4_0);
        ModelOptions options = ModelOptions.defaults().withThreads(THREADS).withContextLength(CONTEXT).withBatchSize(UBATCH)
                .withRpcServers(List.of(server.endpoint())).withCacheTypes(types);
        Plan plan = LlamaModel.plan(model, options.withFit(options.fit().withKvDeviceMemory(BUDGET))).orElseThrow();
        long deviceCellBytes = GgmlType.Q8_0.rowBytes(128) + GgmlType.F16.rowBytes(128);
        long hostCellBytes = 2 * GgmlType.Q4_0.rowBytes(128);
        assertEquals((3L * 1536 + 512) * deviceCellBytes, plan.needs().devices().getFirst().kv(), "the device's KV cache");
        assertEquals((3L * (CHUNKED_CELLS - 1536) + (GLOBAL_CELLS - 512)) * hostCellBytes, plan.needs().host().kv(), "the host's KV cache");
        plan.describe().forEach(line -> System.out.println("plan of -ctk q8_0 -ctv f16 --cache-type-host q4_0: " + line));
    }

    /**
     * Past a chunk and a micro-batch the chunked layers go round their cells (8704 with a context of 12288:
     * a chunk of 8192 and a micro-batch of 512), reusing those of positions before the chunk the queries
     * are in. With a budget that splits those cells at 4352, positions 0-4351 are on the device and
     * 4352-8703 in host memory, and from 8704 on a 10000-token prompt's positions go back into the
     * device's first cells, while its queries still read positions 8192-8703 in the host tier: attention
     * reads the chunk across the tiers, out of position order, and must compute what one tier does, bit
     * for bit.
     */
    @Test
    void chunkedLayersGoingRoundTheirCellsAcrossTheTiersComputeWhatOneTierDoes() throws IOException, InterruptedException {
        int context = 12288;
        int prompt = 10000;
        int chunkedOnDevice = 4352;
        // 3 chunked layers of 4352 cells and the global layer's 256, in whole blocks: 6.5 MiB.
        long budget = (3L * chunkedOnDevice + 256) * CELL_BYTES;
        Path model = ModelParityTest.write(work, new ModelParityTest.Case("tiered-wrap", SPEC, UBATCH));
        int[] tokens = promptOf(model, 14, 5000, prompt);
        RpcServerProcess server = RpcServerProcess.shared();
        Run oneTier = run(model, server.endpoint(), tokens, context, KvCacheTypes.F16, FitOptions.KV_ALL);
        Run tiered = run(model, server.endpoint(), tokens, context, KvCacheTypes.F16, budget);

        // The chunk after the prompt: positions past 8703 back in device cells, 8192-8703 still in host ones.
        SequenceState.CellLayout chunked = tiered.afterPrompt().chunked();
        boolean wrappedToDevice = false;
        boolean chunkStartOnHost = false;
        for (int i = 0; i < chunked.cells().length; i++) {
            long position = chunked.positions()[i];
            wrappedToDevice |= position >= 8704 && chunked.cells()[i] < chunkedOnDevice;
            chunkStartOnHost |= position >= 8192 && position < 8704 && chunked.cells()[i] >= chunkedOnDevice;
        }
        assertTrue(wrappedToDevice && chunkStartOnHost, "the chunked cells did not go round across the tiers");
        assertEquals(budget, tiered.committed().get(server.buffer()), "device tier: " + tiered.committed());
        assertArrayEquals(oneTier.greedy(), tiered.greedy(), "greedy steps");
        assertSameRows(oneTier.logits(), tiered.logits(), "chunked cells round the tiers, against one tier");
    }

    /**
     * The prompt, then {@link #STEPS} greedy steps, with every layer on the RPC device and a cache of
     * {@code cacheTypes} whose device share is at most {@code kvDeviceBytes} ({@link FitOptions#KV_ALL}: all of it).
     */
    private static Run run(Path model, String endpoint, int[] prompt, KvCacheTypes cacheTypes, long kvDeviceBytes) {
        return run(model, endpoint, prompt, CONTEXT, cacheTypes, kvDeviceBytes);
    }

    /** As {@link #run(Path, String, int[], KvCacheTypes, long)} with a context of {@code context} tokens. */
    private static Run run(Path model, String endpoint, int[] prompt, int context, KvCacheTypes cacheTypes, long kvDeviceBytes) {
        List<BackendDevice> devices = RpcServers.connect(List.of(endpoint));
        float[][] logits = new float[COMPARED_PROMPT_ROWS + STEPS][];
        int[] greedy = new int[STEPS];
        try (Model m = Model.open(model, THREADS, true, fraction -> { }, devices, new Offload(Offload.ALL_LAYERS, List.of(), false, 0));
             Evaluator evaluator = new Evaluator(m, context, UBATCH, cacheTypes, kvDeviceBytes)) {
            float[][] rows = evaluator.evaluate(prompt, prompt.length - COMPARED_PROMPT_ROWS);
            System.arraycopy(rows, 0, logits, 0, rows.length);
            SequenceState afterPrompt = evaluator.save();
            float[] last = rows[rows.length - 1];
            for (int step = 0; step < STEPS; step++) {
                greedy[step] = ModelParityTest.argmax(last);
                last = evaluator.evaluate(new int[] {greedy[step]}, 0)[0];
                logits[COMPARED_PROMPT_ROWS + step] = last;
            }
            return new Run(logits, greedy, evaluator.cacheCommittedBytesByBuffer(), afterPrompt, evaluator.computeBytes());
        }
    }

    /**
     * The logits of {@code steps} decoded one by one after {@code state}, restored into a cache of {@code cacheTypes}
     * whose device share is at most {@code kvDeviceBytes}.
     */
    private static float[][] continueFrom(Path model, String endpoint, SequenceState state, int[] steps, KvCacheTypes cacheTypes,
                                          long kvDeviceBytes) {
        List<BackendDevice> devices = RpcServers.connect(List.of(endpoint));
        float[][] logits = new float[steps.length][];
        try (Model m = Model.open(model, THREADS, true, fraction -> { }, devices, new Offload(Offload.ALL_LAYERS, List.of(), false, 0));
             Evaluator evaluator = new Evaluator(m, CONTEXT, UBATCH, cacheTypes, kvDeviceBytes)) {
            evaluator.restore(state);
            for (int step = 0; step < steps.length; step++) {
                logits[step] = evaluator.evaluate(new int[] {steps[step]}, 0)[0];
            }
        }
        return logits;
    }

    /** The first {@code length} tokens of the seeded text of {@code words} words, as both tokenizers make them for {@code model}. */
    private static int[] promptOf(Path model, long seed, int words, int length) throws IOException {
        int[] text = ModelParityTest.sameTokens(new Reference(work), model, SampleText.prose(seed, words));
        assertTrue(text.length >= length, "the text has only " + text.length + " tokens");
        return Arrays.copyOf(text, length);
    }

    private static void assertSameRows(float[][] expected, float[][] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": rows");
        for (int row = 0; row < expected.length; row++) {
            assertArrayEquals(expected[row], actual[row], what + ": row " + row);
        }
    }
}
