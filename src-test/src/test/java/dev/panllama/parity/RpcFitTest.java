package dev.panllama.parity;

import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.eval.Evaluator;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.placement.FitOptions;
import dev.panllama.placement.MemoryNeeds;
import dev.panllama.placement.Offload;
import dev.panllama.placement.Plan;
import dev.panllama.placement.PlacementException;
import dev.panllama.reference.Reference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The placement planner ({@code --fit}) with a memory budget for the RPC device: the plan fits the
 * budget in what the loaded model really allocates there, fills it, never puts a routed expert on the
 * device while another weight stays on the host, and computes what libllama computes when given the
 * same placement in its own options (the plan prints them) over the same rpc-server.
 */
class RpcFitTest {

    private static final int THREADS = 2;
    private static final int UBATCH = 64;
    private static final int CONTEXT = 1024;
    private static Path work;
    private static Reference reference;
    private static RpcServerProcess server;
    private static String prompt;

    @BeforeAll
    static void setUp() throws IOException, InterruptedException {
        work = Files.createTempDirectory("panllama-fit");
        reference = new Reference(work);
        server = RpcServerProcess.shared();
        prompt = SampleText.prose(11, 120);
    }

    @AfterAll
    static void cleanUp() throws IOException, InterruptedException {
        try (Stream<Path> files = Files.walk(work)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** A model and how much of what it could put on the device the budget allows. */
    record Case(String model, RandomModelSpec spec, String regime, double share) {
        @Override
        public String toString() {
            return model + ", budget for " + regime;
        }
    }

    static Stream<Arguments> cases() {
        // More experts than the parity suite's models, so that experts are most of the bytes, as in Scout and Maverick.
        RandomModelSpec scout = ModelParityTest.retype(RandomModelSpec.scoutLike(GgmlType.F32, 41).withExperts(16, 1, 1).withLayers(8),
                GgmlType.Q4_0, 41);
        RandomModelSpec maverick = ModelParityTest.retype(RandomModelSpec.scoutLike(GgmlType.F32, 42).withExperts(16, 1, 2).withLayers(8),
                GgmlType.Q8_0, 42);
        return Stream.of(
                Arguments.of(new Case("scout-like", scout, "half the routed experts", 0.5)),
                Arguments.of(new Case("maverick-like", maverick, "half the routed experts", 0.5)),
                Arguments.of(new Case("scout-like", scout, "part of the layers", -0.6)));
    }

    private static Path write(Case c) throws IOException {
        Path model = work.resolve(c.model() + ".gguf");
        if (!Files.exists(model)) {
            RandomModelWriter.write(c.spec(), TokenizerParityTest.vocabulary("ggml-vocab-llama-bpe.gguf"), model);
        }
        return model;
    }

    private static ModelOptions options(long deviceBytes) {
        return ModelOptions.defaults().withThreads(THREADS).withContextLength(CONTEXT).withBatchSize(UBATCH)
                .withRpcServers(List.of(server.endpoint()))
                .withFit(FitOptions.defaults().withDeviceMemory(Map.of(server.buffer(), deviceBytes)));
    }

    /**
     * What the device needs with everything on it; the bytes of routed experts among its weights; what it
     * needs with the output layer alone (with a vocabulary of 128256, its logits are most of the compute);
     * and with every layer but no routed expert.
     */
    private static long[] deviceExtremes(Path model) {
        long huge = 1L << 40;
        MemoryNeeds.Where all = deviceNeeds(model, options(huge));
        MemoryNeeds.Where withoutExperts = deviceNeeds(model, options(huge).withOffload(Offload.all().withCpuMoe(true)));
        MemoryNeeds.Where outputLayer = deviceNeeds(model, options(huge).withOffload(Offload.all().withCpuMoe(true).withGpuLayers(1)));
        return new long[] {all.total(), all.weights() - withoutExperts.weights(), outputLayer.total(), withoutExperts.total()};
    }

    private static MemoryNeeds.Where deviceNeeds(Path model, ModelOptions options) {
        return LlamaModel.plan(model, options).orElseThrow().needs().devices().getFirst();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void thePlanFitsTheBudgetFillsItAndComputesAsLlamaCppPlacedTheSameWay(Case c) throws IOException {
        Path model = write(c);
        long[] extremes = deviceExtremes(model);
        // share > 0: room for everything but that share of the routed experts; share < 0: room for the output
        // layer and that share of what the other layers need without their routed experts.
        long budget = c.share() > 0 ? extremes[0] - (long) (c.share() * extremes[1])
                : extremes[2] + (long) (-c.share() * (extremes[3] - extremes[2]));
        int[] ids = ModelParityTest.sameTokens(reference, model, prompt);
        float[][] actual;
        Plan plan;
        Map<String, Long> weightsByBuffer;
        Map<String, Long> compute;
        try (LlamaModel opened = LlamaModel.open(model, options(budget))) {
            plan = opened.plan().orElseThrow();
            assertTrue(plan.fitted(), "the planner did not run");
            try (Evaluator evaluator = opened.newEvaluator()) {
                actual = evaluator.evaluate(ids, 0);
                compute = evaluator.computeBytes();
            }
            weightsByBuffer = opened.weightBytesByBuffer();
        }
        MemoryNeeds.Where device = plan.needs().devices().getFirst();
        String deviceName = device.device();
        plan.describe().forEach(line -> System.out.println("fit " + c + ": " + line));

        // Fits, in what loading really allocated and computing really used.
        assertTrue(device.total() <= budget, "the plan needs " + device.total() + " of a budget of " + budget);
        assertEquals(device.weights(), weightsByBuffer.getOrDefault(server.buffer(), 0L), "weights on the device: plan vs loaded");
        assertTrue(compute.get(deviceName) <= device.compute(), "compute used " + compute.get(deviceName) + " > planned " + device.compute());

        // Fills: past the non-expert layers the steps are single expert tensors, small beside the budget.
        if (c.share() > 0) {
            assertTrue(device.total() >= 0.9 * budget, "the plan uses " + device.total() + " of a budget of " + budget);
        }
        // Routed experts go to the device only after every other weight there could go (the token embedding stays on the host, as in llama.cpp).
        Map<String, String> where = plan.trial().bufferOfWeight();
        boolean expertOnDevice = where.keySet().stream().anyMatch(w -> w.contains("_exps") && plan.onDevice(w));
        List<String> othersOnHost = where.keySet().stream()
                .filter(w -> !w.contains("_exps") && !w.equals("token_embd.weight") && !plan.onDevice(w)).toList();
        assertFalse(expertOnDevice && !othersOnHost.isEmpty(), "experts on the device while these stay on the host: " + othersOnHost);
        assertEquals(c.share() > 0, expertOnDevice, "experts on the device: " + plan.expertLayers());

        // The same placement given to libllama, over the same server.
        Offload offload = plan.offload();
        Reference.Offloading same = new Reference.Offloading(List.of(server.endpoint()), offload.gpuLayers(),
                offload.overrides().stream().map(Object::toString).toList(), offload.cpuMoe(), offload.cpuMoeLayers());
        float[][] expected = reference.logits(model, ids, 0, new Reference.Settings(UBATCH, THREADS, CONTEXT).with(same), 128256);
        ModelParityTest.Comparison comparison = ModelParityTest.Comparison.of(expected, actual);
        System.out.printf("fit %s: %s; median %.2e, max %.2e, top-1 agrees %.1f%%%n", c, plan.llamaCppOptions(), comparison.median(),
                comparison.max(), 100 * comparison.top1Agreement());
        comparison.assertWithin(1e-2, 0.90, c.toString());
    }

    /**
     * Two devices with budgets of their own (two rpc-servers, like two GPUs of different sizes): the plan
     * shares the layers between them by budget (as llama.cpp's -ts), keeps each within its budget in
     * what loading really puts there, fills the fuller one, and computes what libllama computes given
     * the plan's options over the same two servers.
     */
    @Test
    void twoDevicesShareTheModelByTheirBudgets() throws IOException, InterruptedException {
        RpcServerProcess second = RpcServerProcess.shared(1);
        RandomModelSpec spec = ModelParityTest.retype(RandomModelSpec.scoutLike(GgmlType.F32, 44).withExperts(16, 1, 1).withLayers(8),
                GgmlType.Q4_0, 44);
        Path model = write(new Case("scout-like-two-devices", spec, "", 0));
        long huge = 1L << 40;
        Plan everything = LlamaModel.plan(model, twoDevices(second, huge, huge)).orElseThrow();
        long[] needs = everything.needs().devices().stream().mapToLong(MemoryNeeds.Where::total).toArray();
        // The last device takes the output layer, whose logits' compute is most of what this small model
        // needs there: it keeps its room and gets a quarter of the first's, which gets half its own.
        long first = needs[0] / 2;
        long other = needs[1] + needs[0] / 4;
        int[] ids = ModelParityTest.sameTokens(reference, model, prompt);
        float[][] actual;
        Plan plan;
        Map<String, Long> weightsByBuffer;
        try (LlamaModel opened = LlamaModel.open(model, twoDevices(second, first, other))) {
            plan = opened.plan().orElseThrow();
            try (Evaluator evaluator = opened.newEvaluator()) {
                actual = evaluator.evaluate(ids, 0);
            }
            weightsByBuffer = opened.weightBytesByBuffer();
        }
        plan.describe().forEach(line -> System.out.println("fit on two devices: " + line));
        assertEquals(List.of((double) (first >> 20), (double) (other >> 20)), plan.offload().tensorSplit(), "layers shared by budget");
        long[] budgets = {first, other};
        String[] buffers = {server.buffer(), second.buffer()};
        double fullest = 0;
        for (int i = 0; i < 2; i++) {
            MemoryNeeds.Where device = plan.needs().devices().get(i);
            assertTrue(device.total() <= budgets[i], device.device() + " needs " + device.total() + " of a budget of " + budgets[i]);
            assertEquals(device.weights(), weightsByBuffer.getOrDefault(buffers[i], 0L), "weights on " + buffers[i] + ": plan vs loaded");
            assertTrue(device.weights() > 0, "nothing on " + buffers[i]);
            fullest = Math.max(fullest, device.total() / (double) budgets[i]);
        }
        assertTrue(fullest >= 0.9, "the fuller device uses " + fullest + " of its budget");
        Map<String, String> where = plan.trial().bufferOfWeight();
        assertTrue(where.keySet().stream().anyMatch(w -> w.contains("_exps") && !plan.onDevice(w)), "every expert fitted: budgets too large");

        Offload offload = plan.offload();
        Reference.Offloading same = new Reference.Offloading(List.of(server.endpoint(), second.endpoint()), offload.gpuLayers(),
                offload.overrides().stream().map(Object::toString).toList(), offload.cpuMoe(), offload.cpuMoeLayers(), offload.tensorSplit());
        float[][] expected = reference.logits(model, ids, 0, new Reference.Settings(UBATCH, THREADS, CONTEXT).with(same), 128256);
        ModelParityTest.Comparison comparison = ModelParityTest.Comparison.of(expected, actual);
        System.out.printf("fit on two devices: %s; median %.2e, max %.2e, top-1 agrees %.1f%%%n", plan.llamaCppOptions(),
                comparison.median(), comparison.max(), 100 * comparison.top1Agreement());
        comparison.assertWithin(1e-2, 0.90, "two devices");
    }

    private static ModelOptions twoDevices(RpcServerProcess second, long firstBytes, long secondBytes) {
        return options(firstBytes).withRpcServers(List.of(server.endpoint(), second.endpoint()))
                .withFit(FitOptions.defaults().withDeviceMemory(Map.of(server.buffer(), firstBytes, second.buffer(), secondBytes)));
    }

    /**
     * Without -c the context is the model's trained one, its KV cache taking memory as tokens fill it: in
     * host memory, and on the device up to the share the planner gives it. Only with
     * {@code --kv-device-memory all}, where a layer on the device keeps its whole cache there, allocated up
     * front, is it at most 8192 once a layer's cache is on the device (the output layer alone has none).
     */
    @Test
    void theDefaultContextIsTheTrainedOneUnlessTheWholeCacheIsOnTheDevice() throws IOException {
        RandomModelSpec spec = ModelParityTest.retype(RandomModelSpec.scoutLike(GgmlType.F32, 43), GgmlType.Q8_0, 43);
        Path model = write(new Case("scout-like-default-context", spec, "", 0));
        int trained = spec.contextLength();
        assertTrue(trained > ModelOptions.DEVICE_CONTEXT_CAP, "the model must be trained past the cap: " + trained);
        for (long kvDeviceMemory : new long[] {FitOptions.KV_AUTO, FitOptions.KV_ALL}) {
            for (int gpuLayers : new int[] {0, 1, 2, 99}) {
                ModelOptions options = options(1L << 40).withContextLength(0).withOffload(Offload.all().withGpuLayers(gpuLayers));
                options = options.withFit(options.fit().withKvDeviceMemory(kvDeviceMemory));
                int expected = gpuLayers <= 1 || kvDeviceMemory == FitOptions.KV_AUTO ? trained : ModelOptions.DEVICE_CONTEXT_CAP;
                String what = "-ngl " + gpuLayers + ", --kv-device-memory " + (kvDeviceMemory == FitOptions.KV_ALL ? "all" : "auto");
                try (LlamaModel opened = LlamaModel.open(model, options); Evaluator evaluator = opened.newEvaluator()) {
                    assertEquals(expected, opened.contextLength(), what);
                    assertEquals(expected, evaluator.contextLength(), what);
                    evaluator.evaluate(new int[] {1, 2, 3}, 2);
                }
            }
        }
    }

    @Test
    void aPlacementTheDeviceCannotHoldIsRefusedWithItsFigures() throws IOException {
        Path model = write(new Case("scout-like", ModelParityTest.retype(RandomModelSpec.scoutLike(GgmlType.F32, 41)
                .withExperts(16, 1, 1).withLayers(8), GgmlType.Q4_0, 41), "", 0));
        ModelOptions everything = options(8L << 20).withOffload(Offload.all().withGpuLayers(99));
        var error = assertThrows(PlacementException.class, () -> LlamaModel.open(model, everything));
        assertTrue(error.getMessage().startsWith("the placement does not fit: RPC"), error.getMessage());
        assertTrue(error.getMessage().contains(" needs "), error.getMessage());
        assertTrue(error.getMessage().contains("but has 8.0 MiB (--device-memory)"), error.getMessage());
    }
}
