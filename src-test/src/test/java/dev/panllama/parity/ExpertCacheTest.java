package dev.panllama.parity;

import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.eval.Evaluator;
import dev.panllama.eval.KvCacheTypes;
import dev.panllama.eval.StepTimes;
import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.RpcServers;
import dev.panllama.gguf.GgufFile;
import dev.panllama.model.Model;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.placement.ExpertCache;
import dev.panllama.placement.ExpertCacheOptions;
import dev.panllama.placement.ExpertCacheStatistics;
import dev.panllama.placement.ExpertPolicy;
import dev.panllama.placement.Offload;
import dev.panllama.placement.Plan;
import dev.panllama.placement.RoutingProfile;
import dev.panllama.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The hot-expert cache with ggml's RPC backend standing in for the GPU (the reference build's
 * rpc-server on 127.0.0.1): every layer on the device, the routed experts in host memory
 * ({@code --cpu-moe}), and a cache of expert slots in the device's memory. Exactness: the same
 * placement computes the same logits, within {@link ModelParityTest}'s tolerances, with the cache on as
 * off, while hits and misses both occur. Behaviour: on a model whose routing is skewed by topic, a cache
 * of a quarter of the experts hits at least twice as often as a quarter, and follows a change of topic.
 */
class ExpertCacheTest {

    private static final int THREADS = 2;
    private static final int CONTEXT = 1024;
    private static Path work;
    private static String endpoint;

    @BeforeAll
    static void setUp() throws IOException, InterruptedException {
        work = Files.createTempDirectory("panllama-experts");
        endpoint = RpcServerProcess.shared().endpoint();
    }

    @AfterAll
    static void cleanUp() throws IOException {
        try (Stream<Path> files = Files.walk(work)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    record Case(String name, RandomModelSpec spec, int ubatch, int slots) {
        @Override
        public String toString() {
            return name + " " + spec.weightType() + ", " + spec.experts() + " experts, " + slots + " slots, ubatch " + ubatch;
        }
    }

    static Stream<Arguments> models() {
        // Q6_K, which the CPU does not repack: host and device then multiply an expert with the same kernel.
        RandomModelSpec scout = ModelParityTest.retype(RandomModelSpec.scoutLike(GgmlType.F32, 51), GgmlType.Q6_K, 51);
        RandomModelSpec maverick = ModelParityTest.retype(RandomModelSpec.scoutLike(GgmlType.F32, 52).withExperts(4, 1, 2).withLayers(4),
                GgmlType.F16, 52);
        RandomModelSpec top2 = ModelParityTest.retype(RandomModelSpec.scoutLike(GgmlType.F32, 53).withExperts(6, 2, 1), GgmlType.F32, 53);
        return Stream.of(
                Arguments.of(new Case("scout-like (every layer MoE)", scout, 32, 2)),
                Arguments.of(new Case("maverick-like (MoE every other layer)", maverick, 32, 2)),
                Arguments.of(new Case("top-2", top2, 16, 3)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void theCacheChangesNoLogits(Case c) throws IOException {
        Path file = written(c);
        int[] prompt = promptOf(file);
        try (Model model = openWithExpertsOnTheHost(file)) {
            Run off = run(model, prompt, c.ubatch(), null);
            ExpertCache cache = model.openExpertCache(c.slots(), ExpertPolicy.LRU);
            int moeLayers = (int) java.util.stream.IntStream.range(0, c.spec().layers()).filter(l -> model.config().plan().isMoe(l)).count();
            assertEquals(moeLayers, cache.layers().length, "every MoE layer's experts are in host memory, so every one is cached");
            Run on = run(model, prompt, c.ubatch(), off.steps());
            ExpertCacheStatistics statistics = cache.statistics();
            System.out.printf("expert cache %-70s hits %d, misses %d, loads %d%n", c, statistics.totalHits(), statistics.totalMisses(),
                    statistics.totalLoads());
            assertTrue(statistics.totalHits() > 0 && statistics.totalMisses() > 0, "hits and misses must both occur: " + statistics);
            // Every token's logits are computed, so even the last layer routes them all.
            assertEquals((long) (prompt.length + off.steps().length) * c.spec().expertsUsed() * moeLayers,
                    statistics.totalHits() + statistics.totalMisses(), "one pair per token, choice and cached layer");

            ModelParityTest.Comparison prefill = ModelParityTest.Comparison.of(off.prompt(), on.prompt());
            ModelParityTest.Comparison decode = ModelParityTest.Comparison.of(off.decode(), on.decode());
            boolean quantized = c.spec().weightType().isQuantized();
            System.out.printf("expert cache %-70s prompt of %d: max %.2e, top-1 %.1f%%; %d decode steps: max %.2e%n", c, prompt.length,
                    prefill.max(), 100 * prefill.top1Agreement(), off.steps().length, decode.max());
            prefill.assertWithin(quantized ? 1e-2 : 1e-3, quantized ? 0.90 : 0.95, c + ", prompt");
            decode.assertWithin(quantized ? 1e-2 : 1e-3, quantized ? 0.90 : 0.95, c + ", decode");

            // Decode steps compute a graph per cached layer and one more, and build only the first of each
            // segment's variants (one per count of hits among a token's experts); later steps reuse them.
            StepTimes times = on.decodeTimes();
            int segments = cache.layers().length + 1;
            System.out.printf("expert cache %-70s decode: %d graphs computed, %d built%n", c, times.graphsComputed(), times.graphsBuilt());
            assertEquals((long) off.steps().length * segments, times.graphsComputed(), "graphs computed by the decode steps");
            assertTrue(times.graphsBuilt() <= 1 + (long) cache.layers().length * (c.spec().expertsUsed() + 1),
                    "each segment's variants are built once: " + times);
        }
    }

    /**
     * A cache replaced between decode steps (the old one's slots freed) changes no logits: the segment
     * graphs kept for the old cache read its slots, so an evaluator must not compute them again with the
     * new one. Q6_K, whose hits and misses multiply alike: bit for bit the cache off.
     */
    @Test
    void aCacheReplacedBetweenDecodeStepsChangesNoLogits() throws IOException {
        Case c = (Case) models().findFirst().orElseThrow().get()[0];
        Path file = written(c);
        int[] prompt = promptOf(file);
        try (Model model = openWithExpertsOnTheHost(file)) {
            Run off = run(model, prompt, c.ubatch(), null);
            float[][] decode = new float[off.steps().length][];
            try (Evaluator evaluator = new Evaluator(model, CONTEXT, c.ubatch(), KvCacheTypes.of(GgmlType.F32))) {
                ExpertCache first = model.openExpertCache(c.slots(), ExpertPolicy.LRU);
                evaluator.evaluate(prompt, 0);
                evaluator.forgetStepTimes();
                for (int s = 0; s < decode.length; s++) {
                    if (s == decode.length / 2) {
                        ExpertCache second = model.openExpertCache(c.slots() + 1, ExpertPolicy.LFU_DECAY);
                        assertTrue(first.statistics().totalHits() > 0, "the first cache served hits before it was replaced");
                        assertSame(second, model.expertCache().orElseThrow(), "the second cache replaced the first");
                    }
                    decode[s] = evaluator.evaluate(new int[] {off.steps()[s]}, 0)[0];
                }
                StepTimes times = evaluator.stepTimes();
                assertTrue(times.graphsBuilt() < times.graphsComputed(), "decode steps reused their graphs: " + times);
            }
            assertEquals(0, ModelParityTest.Comparison.of(off.decode(), decode).max(), "decode steps across the replacement");
        }
    }

    /**
     * With a copier the copies into the slots run off the evaluating thread, and a slot being filled is not
     * hit until its copy has ended. Here the copies are held back and run only every third decode step (on
     * the test's thread: the RPC stand-in takes no calls from two threads at once): the logits stay those
     * of the cache off, bit for bit (Q6_K: a hit and a miss multiply alike), which they would not if a
     * held-back slot were read, and the experts become hits once their copies have run.
     */
    @Test
    void copiesHeldBackAreNotHitUntilTheyHaveRun() throws IOException {
        Case c = (Case) models().findFirst().orElseThrow().get()[0];
        Path file = written(c);
        int[] prompt = promptOf(file);
        try (Model model = openWithExpertsOnTheHost(file)) {
            Run off = run(model, prompt, c.ubatch(), null);
            List<Runnable> held = new java.util.ArrayList<>();
            ExpertCache cache = model.openExpertCache(c.slots(), ExpertPolicy.LRU, held::add);
            float[][] decode = new float[off.steps().length][];
            // Closing the model waits for the copies in flight: whatever happens, the held ones run.
            try (Evaluator evaluator = new Evaluator(model, CONTEXT, c.ubatch(), KvCacheTypes.of(GgmlType.F32));
                 AutoCloseable release = () -> held.forEach(Runnable::run)) {
                float[][] promptLogits = evaluator.evaluate(prompt, 0);
                assertEquals(0, ModelParityTest.Comparison.of(off.prompt(), promptLogits).max(), "the prompt's logits");
                assertEquals(0, cache.statistics().totalHits(), "no copy has run yet, so nothing can hit");
                assertTrue(!held.isEmpty(), "the prompt's routing asked for copies");
                for (int s = 0; s < decode.length; s++) {
                    decode[s] = evaluator.evaluate(new int[] {off.steps()[s]}, 0)[0];
                    if (s % 3 == 2) {
                        held.forEach(Runnable::run);
                        held.clear();
                    }
                }
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            ModelParityTest.Comparison comparison = ModelParityTest.Comparison.of(off.decode(), decode);
            ExpertCacheStatistics statistics = cache.statistics();
            System.out.printf("expert cache, copies held back: %d decode steps, max %.2e; hits %d, misses %d, loads %d%n", decode.length,
                    comparison.max(), statistics.totalHits(), statistics.totalMisses(), statistics.totalLoads());
            assertEquals(0, comparison.max(), "a slot was read before its copy ran");
            assertTrue(statistics.totalHits() > 0, "the copies that ran never became hits: " + statistics);
        }
    }

    /** The case's model, written once into the work folder. */
    private static Path written(Case c) throws IOException {
        Path file = work.resolve(c.name().replaceAll("[^a-z0-9]+", "-") + c.spec().weightType() + ".gguf");
        if (!Files.exists(file)) {
            RandomModelWriter.write(c.spec(), TokenizerParityTest.vocabulary("ggml-vocab-llama-bpe.gguf"), file);
        }
        return file;
    }

    private static int[] promptOf(Path file) throws IOException {
        try (GgufFile gguf = GgufFile.open(file)) {
            return Tokenizer.of(gguf.metadata()).encode(SampleText.prose(5, 60), true, true);
        }
    }

    /** The model with every layer on the RPC device but its routed experts, which stay in host memory (and so can be cached). */
    private static Model openWithExpertsOnTheHost(Path file) {
        List<BackendDevice> devices = RpcServers.connect(List.of(endpoint));
        return Model.open(file, THREADS, true, fraction -> { }, devices, Offload.all().withCpuMoe(true));
    }

    /** A prompt's logits, then decode steps' (each the token {@code steps} names, or the greedy one when null), and the decode steps' times. */
    private record Run(float[][] prompt, float[][] decode, int[] steps, StepTimes decodeTimes) {
    }

    private static Run run(Model model, int[] prompt, int ubatch, int[] forced) {
        int count = forced == null ? 6 : forced.length;
        try (Evaluator evaluator = new Evaluator(model, CONTEXT, ubatch, KvCacheTypes.of(GgmlType.F32))) {
            float[][] logits = evaluator.evaluate(prompt, 0);
            evaluator.forgetStepTimes();
            float[][] decode = new float[count][];
            int[] steps = new int[count];
            float[] last = logits[logits.length - 1];
            for (int s = 0; s < count; s++) {
                steps[s] = forced == null ? argmax(last) : forced[s];
                decode[s] = evaluator.evaluate(new int[] {steps[s]}, 0)[0];
                last = decode[s];
            }
            if (forced != null) {
                assertArrayEquals(forced, steps);
            }
            return new Run(logits, decode, steps, evaluator.stepTimes());
        }
    }

    private static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            if (row[i] > row[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * The model writer's topic skew: 16 experts, top-1, each token's expert drawn from a Zipf
     * distribution of exponent 1.2 in an order its half of the vocabulary decides. A cache of 4 slots
     * per layer (25 %) is fed 160 tokens of the first half one step at a time, then 160 of the second: its
     * hit rate over the last 100 steps of each topic must be at least 50 %, twice a quarter, for the
     * default policy; both policies' figures are printed (the README quotes them).
     */
    @Test
    void aQuarterOfTheExpertsServesMostTokensAndFollowsTheTopic() throws IOException {
        Path file = skewedModel();
        try (Model model = openWithExpertsOnTheHost(file)) {
            int vocabulary = model.config().dims().vocabSize();
            SplittableRandom random = new SplittableRandom(55);
            int[] topicA = random.ints(160, 0, vocabulary / 2).toArray();
            int[] topicB = random.ints(160, vocabulary / 2, vocabulary).toArray();
            for (ExpertPolicy policy : ExpertPolicy.values()) {
                ExpertCache cache = model.openExpertCache(4, policy);
                try (Evaluator evaluator = new Evaluator(model, CONTEXT, 32, KvCacheTypes.of(GgmlType.F32))) {
                    double[] a = hitRates(evaluator, cache, topicA);
                    double[] b = hitRates(evaluator, cache, topicB);
                    System.out.printf("expert cache %-9s 4 of 16 slots, Zipf 1.2: topic A %s; after the switch to topic B %s;"
                                    + " last 100 steps: A %.1f%%, B %.1f%%; %d experts loaded in %d steps%n",
                            policy, percent(a), percent(b), 100 * mean(a, 60), 100 * mean(b, 60), cache.statistics().totalLoads(), 320);
                    System.out.println(cache.statistics().describe());
                    if (policy == ExpertPolicy.LFU_DECAY) {
                        assertTrue(mean(a, 60) >= 0.5, policy + ": topic A's hit rate " + mean(a, 60));
                        // Topic A's favourite experts are topic B's least: had the cache kept them, B would hit about 6 %.
                        assertTrue(mean(b, 60) >= 0.5, policy + ": after the switch, topic B's hit rate " + mean(b, 60));
                        assertTrue(mean(b, 60) > first(b, 20) || first(b, 20) >= 0.5,
                                "the cache did not follow the topic: " + Arrays.toString(b));
                    }
                }
            }
        }
    }

    /**
     * A routing profile saved after topic A warms a new cache at once: the warmed cache holds the
     * profile's experts, and over the same 20 steps of topic A it hits more often than a cold cache.
     */
    @Test
    void aSavedProfileWarmsTheCache() throws IOException {
        Path file = skewedModel();
        Path profile = work.resolve("routing.profile");
        try (Model model = openWithExpertsOnTheHost(file)) {
            int vocabulary = model.config().dims().vocabSize();
            SplittableRandom random = new SplittableRandom(56);
            int[] learn = random.ints(120, 0, vocabulary / 2).toArray();
            int[] later = random.ints(20, 0, vocabulary / 2).toArray();
            ExpertCache learning = model.openExpertCache(4, ExpertPolicy.LFU_DECAY);
            try (Evaluator evaluator = new Evaluator(model, CONTEXT, 32, KvCacheTypes.of(GgmlType.F32))) {
                hitRates(evaluator, learning, learn);
            }
            RoutingProfile.save(learning, profile);
            Map<Integer, int[]> saved = RoutingProfile.read(profile);

            double[] cold;
            ExpertCache coldCache = model.openExpertCache(4, ExpertPolicy.LFU_DECAY);
            try (Evaluator evaluator = new Evaluator(model, CONTEXT, 32, KvCacheTypes.of(GgmlType.F32))) {
                cold = hitRates(evaluator, coldCache, later);
            }
            ExpertCache warmed = model.openExpertCache(4, ExpertPolicy.LFU_DECAY);
            RoutingProfile.warm(warmed, saved);
            for (int layer : warmed.layers()) {
                int[] held = warmed.cachedExperts(layer);
                Arrays.sort(held);
                int[] wanted = saved.get(layer).clone();
                Arrays.sort(wanted);
                assertArrayEquals(wanted, held, "layer " + layer + " holds the profile's experts");
            }
            double[] warm;
            try (Evaluator evaluator = new Evaluator(model, CONTEXT, 32, KvCacheTypes.of(GgmlType.F32))) {
                warm = hitRates(evaluator, warmed, later);
            }
            System.out.printf("expert cache over the same 20 steps of topic A: warmed from a profile %.1f%%, cold %.1f%%%n",
                    100 * mean(warm, 0), 100 * mean(cold, 0));
            assertTrue(mean(warm, 0) > mean(cold, 0), "warming did not help: " + mean(warm, 0) + " vs cold " + mean(cold, 0));
        }
    }

    /**
     * Through the facade, as the command opens models: {@code --expert-cache 6MiB} holds 4 experts of
     * each of the 4 layers (an F16 expert of this model takes 384 KiB), the statistics come through
     * {@link LlamaModel#expertCacheStatistics()}, and closing saves the profile; a size that holds not
     * one expert per layer is one clear message. {@code auto} takes what the placement leaves of the
     * device's budget (none, then 6 MiB); a size beyond it is refused.
     */
    @Test
    void theFacadeSizesTheCacheAndSavesItsProfile() throws IOException, InterruptedException {
        Path file = skewedModel();
        Path profile = work.resolve("facade.profile");
        ModelOptions options = ModelOptions.defaults().withThreads(THREADS).withContextLength(CONTEXT).withCacheType(GgmlType.F32)
                .withRpcServers(List.of(endpoint)).withOffload(Offload.all().withCpuMoe(true));
        try (LlamaModel llama = LlamaModel.open(file, options.withExpertCache(ExpertCacheOptions.parse("6MiB").withProfile(profile)));
             Evaluator evaluator = llama.newEvaluator()) {
            evaluator.evaluate(new SplittableRandom(57).ints(40, 0, llama.config().dims().vocabSize() / 2).toArray(), 39);
            assertEquals("expert cache: 4 of 16 experts per layer for layers 0, 1, 2, 3 in 6.0 MiB of device memory (lfu-decay)",
                    llama.expertCacheDescription().orElseThrow());
            ExpertCacheStatistics statistics = llama.expertCacheStatistics().orElseThrow();
            assertArrayEquals(new int[] {0, 1, 2, 3}, statistics.layers());
            // One micro-batch: layers 0 to 2 route its 40 tokens, the last only the one whose logits are wanted.
            assertEquals(40L * 3 + 1, statistics.totalHits() + statistics.totalMisses());
            assertTrue(statistics.totalLoads() > 0 && statistics.totalLoads() <= 4 * 4, statistics.toString());
        }
        // Per layer the experts chosen at all, 4 at most: the last layer routed one token.
        Map<Integer, int[]> saved = RoutingProfile.read(profile);
        assertEquals(4, saved.size());
        assertEquals(4, saved.get(0).length);
        assertEquals(1, saved.get(3).length);

        var error = assertThrows(IllegalArgumentException.class,
                () -> LlamaModel.open(file, options.withExpertCache(ExpertCacheOptions.parse("1MiB"))));
        assertTrue(error.getMessage().contains("hold not one expert of each of the 4 layers"), error.getMessage());
        try (LlamaModel llama = LlamaModel.open(file, options)) {
            assertTrue(llama.expertCacheStatistics().isEmpty());
        }

        // auto: what the placement leaves of the device's budget, here exactly its needs and then 6 MiB more.
        Plan plan = LlamaModel.plan(file, options).orElseThrow();
        long needs = plan.needs().of(plan.budgets().getFirst().device()).total();
        ModelOptions auto = options.withExpertCache(ExpertCacheOptions.parse("auto"));
        try (LlamaModel llama = LlamaModel.open(file, auto.withFit(auto.fit().withDeviceMemory(Map.of(RpcServerProcess.shared().buffer(), needs))))) {
            assertTrue(llama.expertCacheStatistics().isEmpty(), "no room left, no cache");
        }
        try (LlamaModel llama = LlamaModel.open(file, auto.withFit(auto.fit().withDeviceMemory(
                Map.of(RpcServerProcess.shared().buffer(), needs + (6L << 20)))));
             Evaluator evaluator = llama.newEvaluator()) {
            evaluator.evaluate(new int[] {1, 2, 3}, 2);
            assertTrue(llama.expertCacheStatistics().orElseThrow().totalLoads() > 0, "6 MiB left: a cache");
        }
        var tooBig = assertThrows(IllegalArgumentException.class, () -> LlamaModel.open(file, options.withFit(options.fit().withDeviceMemory(
                Map.of(RpcServerProcess.shared().buffer(), needs + (1L << 20)))).withExpertCache(ExpertCacheOptions.parse("6MiB"))));
        assertTrue(tooBig.getMessage().contains("does not fit"), tooBig.getMessage());
    }

    private static Path skewed;

    /** The model writer's topic skew: 16 experts, top-1, Zipf exponent 1.2; written once for the tests that use it. */
    private static synchronized Path skewedModel() throws IOException {
        if (skewed == null) {
            RandomModelSpec spec = RandomModelSpec.scoutLike(GgmlType.F16, 54).withExperts(16, 1, 1).withTopicSkew(1.2);
            Path file = work.resolve("skewed.gguf");
            RandomModelWriter.write(spec, TokenizerParityTest.vocabulary("ggml-vocab-llama-bpe.gguf"), file);
            skewed = file;
        }
        return skewed;
    }

    /** Feeds {@code tokens} one step each; returns the hit rate of each step (all cached layers together). */
    private static double[] hitRates(Evaluator evaluator, ExpertCache cache, int[] tokens) {
        double[] rates = new double[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            ExpertCacheStatistics before = cache.statistics();
            evaluator.evaluate(new int[] {tokens[i]}, 0);
            rates[i] = cache.statistics().since(before).hitRate();
        }
        return rates;
    }

    private static double mean(double[] rates, int from) {
        return Arrays.stream(rates, from, rates.length).average().orElseThrow();
    }

    private static double first(double[] rates, int count) {
        return Arrays.stream(rates, 0, count).average().orElseThrow();
    }

    /** The hit rate per block of 20 steps, for the log. */
    private static String percent(double[] rates) {
        StringBuilder text = new StringBuilder();
        for (int from = 0; from < rates.length; from += 20) {
            text.append(String.format("%s%.0f%%", from == 0 ? "" : " ", 100 * Arrays.stream(rates, from, Math.min(rates.length, from + 20))
                    .average().orElseThrow()));
        }
        return text.toString();
    }
}
