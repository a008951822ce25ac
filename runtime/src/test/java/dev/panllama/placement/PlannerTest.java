package dev.panllama.placement;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The planner's choices over a model of sizes: each layer's non-expert weights, its routed expert
 * tensors, its KV cache (for {@value #CONTEXT} tokens, its device share in proportion) and the output
 * layer, placed by {@link Offload}'s rules on one device, with a device compute buffer whenever a layer
 * is there. (The real measure, over ggml, is exercised against an RPC device in src-test.)
 */
class PlannerTest {

    private static final String DEVICE = "DEV0";
    private static final String BUFFER = "DEV0_BUF";
    private static final String HOST = "CPU";
    private static final int CONTEXT = 1 << 20;

    /** A model's sizes in bytes. */
    record Sizes(long[] layer, long[][] experts, long[] kv, long output, long compute) {
        int layers() {
            return layer.length;
        }

        static Sizes random(Random random, int layers, boolean interleaved) {
            long[] layer = new long[layers];
            long[][] experts = new long[layers][];
            long[] kv = new long[layers];
            for (int i = 0; i < layers; i++) {
                layer[i] = 1000 + random.nextInt(500);
                kv[i] = 100 + random.nextInt(100);
                boolean moe = !interleaved || i % 2 == 1;
                experts[i] = moe ? new long[] {5000 + random.nextInt(1000), 5000 + random.nextInt(1000), 5000 + random.nextInt(1000)} : new long[0];
            }
            return new Sizes(layer, experts, kv, 3000 + random.nextInt(1000), 800);
        }

        List<List<String>> expertNames() {
            List<List<String>> names = new ArrayList<>();
            for (int i = 0; i < layers(); i++) {
                List<String> layerNames = new ArrayList<>();
                for (int t = 0; t < experts[i].length; t++) {
                    layerNames.add("blk." + i + ".ffn_" + List.of("gate", "up", "down").get(t) + "_exps.weight");
                }
                names.add(layerNames);
            }
            return names;
        }

        /** What the layers {@code offload} puts on the device take of KV cache when each keeps {@code tokens} of it there. */
        long kvDeviceBytes(Offload offload, int tokens) {
            int first = offload.firstOffloadedLayer(layers());
            long bytes = 0;
            for (int i = first; i < layers(); i++) {
                bytes += kv[i] * tokens / CONTEXT;
            }
            return bytes;
        }

        /** What {@code offload} puts on the device, with at most {@code kvDeviceBytes} of KV cache, and where each weight is. */
        Planner.Trial measure(Offload offload, long kvDeviceBytes) {
            int first = offload.firstOffloadedLayer(layers());
            long weights = 0;
            long kvBytes = 0;
            Map<String, String> where = new LinkedHashMap<>();
            for (int i = 0; i < layers(); i++) {
                boolean layerOnDevice = i >= first;
                where.put("blk." + i + ".attn_q.weight", layerOnDevice ? BUFFER : HOST);
                if (layerOnDevice) {
                    weights += layer[i];
                    kvBytes += kv[i];
                }
                List<String> names = expertNames().get(i);
                for (int t = 0; t < names.size(); t++) {
                    String buffer = bufferOfExpert(offload, names.get(t), i, layerOnDevice);
                    where.put(names.get(t), buffer);
                    if (buffer.equals(BUFFER)) {
                        weights += experts[i][t];
                    }
                }
            }
            boolean outputOnDevice = layers() >= first;
            where.put("output.weight", outputOnDevice ? BUFFER : HOST);
            weights += outputOnDevice ? output : 0;
            long deviceCompute = first <= layers() ? compute : 0;
            long deviceKv = Math.min(kvBytes, kvDeviceBytes);
            MemoryNeeds needs = new MemoryNeeds(List.of(new MemoryNeeds.Where(DEVICE, weights, deviceKv, deviceCompute),
                    new MemoryNeeds.Where(MemoryNeeds.HOST, 0, kvBytes - deviceKv, 0)), 0);
            return new Planner.Trial(offload, needs, where, kvDeviceBytes);
        }

        private static String bufferOfExpert(Offload offload, String name, int layer, boolean layerOnDevice) {
            for (Offload.TensorOverride override : offload.overrides()) {
                if (override.matches(name)) {
                    return override.buffer().equals(Offload.TensorOverride.CPU) ? HOST : override.buffer();
                }
            }
            if (offload.cpuMoe() || layer < offload.cpuMoeLayers()) {
                return HOST;
            }
            return layerOnDevice ? BUFFER : HOST;
        }

        long total() {
            long sum = output + compute;
            for (int i = 0; i < layers(); i++) {
                sum += layer[i] + kv[i];
                for (long e : experts[i]) {
                    sum += e;
                }
            }
            return sum;
        }
    }

    private static Planner planner(Sizes sizes, long budget) {
        return planner(sizes, budget, Planner.KvDemand.fixed(FitOptions.KV_ALL));
    }

    private static Planner planner(Sizes sizes, long budget, Planner.KvDemand kv) {
        return new Planner(List.of(budget(budget)), sizes.layers(), sizes.expertNames(), layer -> BUFFER, sizes::measure, kv);
    }

    private static Planner.Budget budget(long bytes) {
        return new Planner.Budget(DEVICE, BUFFER, bytes, "test");
    }

    /** A KV cache the planner sizes, keeping room for {@code minTokens} while it places weights, then growing into {@code growInto}. */
    private static Planner.KvDemand planned(Sizes sizes, int minTokens, List<Planner.Budget> growInto) {
        return new Planner.KvDemand(FitOptions.KV_AUTO, CONTEXT, minTokens, growInto, sizes::kvDeviceBytes);
    }

    /** Sizes whose KV cache for the whole context is larger than the rest of a layer: a long context. */
    private static Sizes longContext(Random random, int layers) {
        Sizes sizes = Sizes.random(random, layers, false);
        long[] kv = new long[layers];
        for (int i = 0; i < layers; i++) {
            kv[i] = 40_000 + random.nextInt(20_000);
        }
        return new Sizes(sizes.layer(), sizes.experts(), kv, sizes.output(), sizes.compute());
    }

    @Test
    void aPlannedCacheLetsTheWeightsComeFirstThenTakesWhatTheDeviceHasLeft() {
        Random random = new Random(13);
        for (int round = 0; round < 100; round++) {
            Sizes sizes = longContext(random, 4 + random.nextInt(20));
            long budget = 2000 + (long) (random.nextDouble() * sizes.total());
            Plan whole = planner(sizes, budget).fit(Offload.all());
            Plan tiered = planner(sizes, budget, planned(sizes, 4096, List.of(budget(budget)))).fit(Offload.all());
            String what = "round " + round + ", budget " + budget + ", " + tiered.llamaCppOptions();
            MemoryNeeds.Where device = tiered.needs().of(DEVICE);
            assertTrue(device.total() <= budget, "over budget: " + what);
            assertTrue(device.weights() >= whole.needs().of(DEVICE).weights(), "fewer weights than with the whole cache on the device: " + what);
            long floor = sizes.kvDeviceBytes(tiered.offload(), 4096);
            if (tiered.trial().kvDeviceBytes() != FitOptions.KV_ALL) {
                assertTrue(tiered.trial().kvDeviceBytes() >= floor, "less than --fit-ctx's tokens on the device: " + what);
                // Grown to within one block of cells of what is left.
                assertTrue(budget - device.total() <= Math.max(1, sizes.kvDeviceBytes(tiered.offload(), 256)), "room left unused: " + what);
            }
        }
    }

    @Test
    void aCacheThatFitsWholeIsKeptWholeOnTheDevice() {
        Sizes sizes = longContext(new Random(17), 6);
        Plan plan = planner(sizes, sizes.total(), planned(sizes, 4096, List.of(budget(sizes.total())))).fit(Offload.all());
        assertEquals(FitOptions.KV_ALL, plan.trial().kvDeviceBytes());
        assertEquals(sizes.total(), plan.needs().of(DEVICE).total());
        assertEquals("-ngl all", plan.llamaCppOptions());
    }

    @Test
    void withNothingToGrowIntoThePlannedCacheKeepsItsFitContext() {
        Sizes sizes = longContext(new Random(19), 6);
        Plan plan = planner(sizes, sizes.total() / 2, planned(sizes, 8192, List.of())).fit(Offload.all());
        assertEquals(sizes.kvDeviceBytes(plan.offload(), 8192), plan.trial().kvDeviceBytes());
    }

    @Test
    void aPlacementGivenByHandGrowsItsCacheOnlyIntoTheMargin() {
        Sizes sizes = longContext(new Random(23), 6);
        Offload given = Offload.all().withCpuMoe(true);
        long free = sizes.total() / 2;
        long margin = 4000;
        Plan plan = planner(sizes, free, planned(sizes, 4096, List.of(budget(free - margin)))).check(given);
        assertFalse(plan.fitted());
        assertTrue(plan.needs().of(DEVICE).total() <= free - margin, plan.needs().of(DEVICE).toString());
        assertTrue(plan.trial().kvDeviceBytes() > sizes.kvDeviceBytes(given, 4096), "the cache did not grow: " + plan.trial().kvDeviceBytes());
    }

    @Test
    void thePlanFitsFillsTheBudgetAndPutsExpertsLast() {
        Random random = new Random(7);
        for (int round = 0; round < 200; round++) {
            Sizes sizes = Sizes.random(random, 4 + random.nextInt(44), random.nextBoolean());
            long budget = 2000 + (long) (random.nextDouble() * sizes.total() * 1.1);
            Plan plan = planner(sizes, budget).fit(Offload.all());
            MemoryNeeds.Where device = plan.needs().of(DEVICE);
            String what = "round " + round + ", budget " + budget + ", " + plan.llamaCppOptions();
            assertTrue(device.total() <= budget, "over budget: " + what);

            Map<String, String> where = plan.trial().bufferOfWeight();
            boolean expertOnDevice = where.entrySet().stream().anyMatch(e -> e.getKey().contains("_exps") && e.getValue().equals(BUFFER));
            boolean otherOnHost = where.entrySet().stream().anyMatch(e -> !e.getKey().contains("_exps") && !e.getValue().equals(BUFFER));
            assertFalse(expertOnDevice && otherOnHost, "a routed expert on the device while another weight is on the host: " + what);

            boolean weightsLeft = where.containsValue(HOST);
            long largestStep = 0;
            for (int i = 0; i < sizes.layers(); i++) {
                largestStep = Math.max(largestStep, sizes.layer[i] + sizes.kv[i]);
                for (long e : sizes.experts[i]) {
                    largestStep = Math.max(largestStep, e);
                }
            }
            if (weightsLeft) {
                // The next weight would not have fitted: the budget is used up to less than one step.
                assertTrue(device.total() > budget - largestStep - sizes.output - sizes.compute, "room left unused: " + what);
                if (largestStep + sizes.output + sizes.compute <= budget / 10) {
                    assertTrue(device.total() >= 0.9 * budget, "less than 90% of the budget used: " + what);
                }
            }
        }
    }

    @Test
    void aBudgetForEverythingTakesEverything() {
        Sizes sizes = Sizes.random(new Random(3), 8, false);
        Plan plan = planner(sizes, sizes.total()).fit(Offload.all());
        assertEquals(sizes.total(), plan.needs().of(DEVICE).total());
        assertEquals("-ngl all", plan.llamaCppOptions());
        assertEquals("layers 0-7 " + BUFFER, plan.expertLayers());
    }

    @Test
    void aSplitLayerIsSaidAsLlamaCppOptionsAndInTheExpertMap() {
        Sizes sizes = Sizes.random(new Random(5), 6, false);
        long nonExperts = sizes.output + sizes.compute;
        for (int i = 0; i < 6; i++) {
            nonExperts += sizes.layer[i] + sizes.kv[i];
        }
        // Room for the non-expert weights, layer 5's experts and one tensor of layer 4's.
        long budget = nonExperts + sizes.experts[5][0] + sizes.experts[5][1] + sizes.experts[5][2] + sizes.experts[4][0];
        Plan plan = planner(sizes, budget).fit(Offload.all());
        assertEquals("-ngl all --n-cpu-moe 5 -ot '^blk\\.4\\.ffn_gate_exps\\.weight$=" + BUFFER + "'", plan.llamaCppOptions());
        assertEquals("layers 0-3 host, layer 4 split, layer 5 " + BUFFER, plan.expertLayers());
    }

    @Test
    void theUsersOverridesComeFirst() {
        Sizes sizes = Sizes.random(new Random(9), 6, false);
        Offload given = Offload.all().withOverrides(Offload.TensorOverride.parse("exps=CPU"));
        Plan plan = planner(sizes, sizes.total()).fit(given);
        assertTrue(plan.trial().bufferOfWeight().entrySet().stream().filter(e -> e.getKey().contains("_exps"))
                .allMatch(e -> e.getValue().equals(HOST)), plan.trial().bufferOfWeight().toString());
        assertEquals("exps=CPU", plan.offload().overrides().getFirst().toString());
    }

    @Test
    void whatCannotFitIsOneMessageWithTheFigures() {
        Sizes sizes = Sizes.random(new Random(11), 4, false);
        // Not even the compute buffer of one layer: nothing can go to the device, yet the smallest step
        // (no layer) fits, so the plan is "all on the host".
        Plan plan = planner(sizes, 500).fit(Offload.all());
        assertEquals(0, plan.needs().of(DEVICE).total());
        assertEquals("-ngl 0 --cpu-moe", plan.llamaCppOptions());

        var error = assertThrows(PlacementException.class, () -> planner(sizes, 500).check(Offload.all()));
        assertTrue(error.getMessage().startsWith("the placement does not fit: DEV0 needs "), error.getMessage());
        assertTrue(error.getMessage().contains("but has 0.0 MiB (test)"), error.getMessage());
    }
}
