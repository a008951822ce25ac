package dev.panllama.model;

import dev.panllama.ggml.Backend;
import dev.panllama.ggml.ComputeGraph;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shared graph blocks, each run on the CPU backend against the same computation in plain Java. */
class GraphBlocksTest {

    private static final int N = 32, FF = 48, EXPERTS = 4, TOKENS = 5;
    private static Backend cpu;

    @BeforeAll
    static void openBackend() {
        cpu = Backend.cpu(2);
    }

    @AfterAll
    static void closeBackend() {
        cpu.close();
    }

    private static ModelConfig config() {
        Dimensions dims = new Dimensions(100, 256, N, 1, 4, 4, N / 4, FF, 1e-5f, 0.35f);
        LayerPlan plan = new LayerPlan(0, false, List.of(new LayerPlan.Layer(LayerPlan.Attention.GLOBAL,
                LayerPlan.Positions.ROPE, LayerPlan.FeedForward.EXPERTS)));
        Experts experts = new Experts(EXPERTS, 1, FF, Experts.Gating.SIGMOID_BEFORE_EXPERTS, true, 0f);
        return new ModelConfig("llama4", dims, plan, experts, new RotaryEmbedding(10000f, 10000f, N / 4), Optional.empty());
    }

    private static float[] random(Random random, int n) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) (random.nextGaussian() * 0.5);
        }
        return values;
    }

    /** {@code w [in, out]} times {@code x [in]}, ggml's layout: row o of w is {@code w[o * in ..]}. */
    private static double[] product(float[] w, int matrixOffset, double[] x, int in, int out) {
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                y[o] += w[matrixOffset + o * in + i] * x[i];
            }
        }
        return y;
    }

    private static double[] gated(float[] gate, float[] up, float[] down, int offset, double[] x) {
        double[] g = product(gate, offset * FF * N, x, N, FF);
        double[] u = product(up, offset * FF * N, x, N, FF);
        double[] h = new double[FF];
        for (int i = 0; i < FF; i++) {
            h[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
        }
        return product(down, offset * N * FF, h, FF, N);
    }

    private static void assertClose(double[] expected, float[] actual, int from) {
        for (int i = 0; i < expected.length; i++) {
            double error = Math.abs(expected[i] - actual[from + i]);
            assertTrue(error <= 2e-3 * Math.max(1, Math.abs(expected[i])), "element " + i + ": " + expected[i] + " vs " + actual[from + i]);
        }
    }

    @Test
    void rmsNormScalesEachRowToUnitRootMeanSquareThenByTheWeight() {
        Random random = new Random(3);
        float[] x = random(random, N * TOKENS);
        float[] w = random(random, N);
        try (GgmlContext ctx = GgmlContext.create(16)) {
            ComputeGraph graph = ctx.newGraph();
            GraphBlocks blocks = new GraphBlocks(ctx, graph, config());
            Tensor tx = ctx.newTensor(GgmlType.F32, N, TOKENS);
            Tensor tw = ctx.newTensor(GgmlType.F32, N);
            Tensor out = blocks.rmsNorm(tx, tw);
            graph.expand(out);
            ctx.allocate(cpu);
            tx.write(x);
            tw.write(w);
            cpu.compute(graph);
            float[] result = out.readFloats();
            for (int t = 0; t < TOKENS; t++) {
                double square = 0;
                for (int i = 0; i < N; i++) {
                    square += x[t * N + i] * x[t * N + i];
                }
                double scale = 1 / Math.sqrt(square / N + 1e-5);
                double[] expected = new double[N];
                for (int i = 0; i < N; i++) {
                    expected[i] = x[t * N + i] * scale * w[i];
                }
                assertClose(expected, result, t * N);
            }
        }
    }

    /** Llama 4's routing: the top expert by router logit, its input scaled by the logit's sigmoid. */
    @Test
    void expertsRunTheRoutedExpertOnTheSigmoidScaledInput() {
        Random random = new Random(4);
        float[] x = random(random, N * TOKENS);
        float[] router = random(random, N * EXPERTS);
        float[] gate = random(random, N * FF * EXPERTS);
        float[] up = random(random, N * FF * EXPERTS);
        float[] down = random(random, FF * N * EXPERTS);
        try (GgmlContext ctx = GgmlContext.create(64)) {
            ComputeGraph graph = ctx.newGraph();
            GraphBlocks blocks = new GraphBlocks(ctx, graph, config());
            Tensor tx = ctx.newTensor(GgmlType.F32, N, TOKENS);
            Tensor tRouter = ctx.newTensor(GgmlType.F32, N, EXPERTS);
            Tensor tGate = ctx.newTensor(GgmlType.F32, N, FF, EXPERTS);
            Tensor tUp = ctx.newTensor(GgmlType.F32, N, FF, EXPERTS);
            Tensor tDown = ctx.newTensor(GgmlType.F32, FF, N, EXPERTS);
            LayerWeights layer = new LayerWeights(null, null, null, null, null, null, null, null, null,
                    tRouter, tGate, tUp, tDown, null, null, null);
            Tensor out = blocks.experts(layer, 0, tx);
            graph.expand(out);
            ctx.allocate(cpu);
            tx.write(x);
            tRouter.write(router);
            tGate.write(gate);
            tUp.write(up);
            tDown.write(down);
            cpu.compute(graph);
            float[] result = out.readFloats();
            assertEquals(N * TOKENS, result.length);
            for (int t = 0; t < TOKENS; t++) {
                double[] input = new double[N];
                for (int i = 0; i < N; i++) {
                    input[i] = x[t * N + i];
                }
                double[] logits = product(router, 0, input, N, EXPERTS);
                int best = 0;
                for (int e = 1; e < EXPERTS; e++) {
                    best = logits[e] > logits[best] ? e : best;
                }
                double weight = 1 / (1 + Math.exp(-logits[best]));
                for (int i = 0; i < N; i++) {
                    input[i] *= weight;
                }
                assertClose(gated(gate, up, down, best, input), result, t * N);
            }
        }
    }
}
