package dev.panllama.parity;

import dev.panllama.eval.Evaluator;
import dev.panllama.eval.KvCacheTypes;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.GraphNode;
import dev.panllama.model.Model;
import dev.panllama.reference.Reference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * panllama's compute graphs against libllama's for the same batch, node by node: a prompt's last
 * micro-batch and a one-token decode after it, for each parity model. libllama's nodes are those its
 * scheduler's eval callback sees, in order; panllama's are its graph's nodes. Each pair must agree in
 * operation, type, shape, strides, operation parameters and sources (the same earlier node, or the
 * same weight, input or cache tensor by name, with the same shape and strides). Node names are not
 * compared: llama.cpp names its intermediate tensors for debugging, panllama does not.
 *
 * <p>Why it matters: backends pick kernels by the graph's shapes (ggml-cpu's flash attention by
 * batch size and KV length) and fuse by its patterns (ggml-cuda fuses a node sequence such as
 * rope, view, set_rows), so equal logits on one backend do not prove the same computation on another;
 * equal graphs do. There are no intended differences at present: one would be listed here with its
 * reason and a proof that it is harmless on CUDA.
 */
class GraphParityTest {

    private static final int THREADS = 2;
    private static final int VOCABULARY = 128256;
    @TempDir
    static Path work;
    private static Reference reference;
    private static String prompt;

    @BeforeAll
    static void setUp() {
        reference = new Reference(work);
        prompt = SampleText.prose(7, 90);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.panllama.parity.ModelParityTest#cases")
    void graphsMatchTheReference(ModelParityTest.Case c) throws IOException {
        compareGraphs(c, KvCacheTypes.F16);
    }

    /**
     * A quantized cache, whose heads libllama rotates by Walsh-Hadamard matrices (Q and K before K is
     * stored, V before and attention's output after): keys and values on a Llama 4 model (two caches, the
     * chunked layers' and the global ones'), keys only on a dense Llama (one cache, its own node order).
     */
    @ParameterizedTest(name = "{0} with {1} keys and {2} values")
    @CsvSource({"0, Q8_0, Q8_0", "7, Q4_0, F16"})
    void graphsOfAQuantizedCacheMatchTheReference(int caseIndex, GgmlType keys, GgmlType values) throws IOException {
        ModelParityTest.Case c = (ModelParityTest.Case) ModelParityTest.cases().toList().get(caseIndex).get()[0];
        compareGraphs(c, KvCacheTypes.of(keys, values));
    }

    private static void compareGraphs(ModelParityTest.Case c, KvCacheTypes types) throws IOException {
        Path model = ModelParityTest.write(work, c);
        int[] ids = ModelParityTest.sameTokens(reference, model, prompt);
        assertTrue(ids.length % c.ubatch() != 0, "the prompt's last micro-batch should be a partial one");
        int next = ids[ids.length / 2];
        int[] tokens = Arrays.copyOf(ids, ids.length + 1);
        tokens[ids.length] = next;
        Reference.Settings settings = new Reference.Settings(c.ubatch(), THREADS, 4096).withCacheTypes(types.keys(), types.values());
        Reference.Trace expected = reference.trace(model, tokens, ids.length, ids.length - 1, settings, VOCABULARY);
        List<GraphNode> promptGraph;
        List<GraphNode> decodeGraph;
        try (Model m = ModelParityTest.open(model);
             Evaluator evaluator = new Evaluator(m, settings.contextLength(), c.ubatch(), types)) {
            evaluator.evaluate(ids, ids.length - 1);
            promptGraph = evaluator.lastGraph();
            evaluator.evaluate(new int[] {next}, 0);
            decodeGraph = evaluator.lastGraph();
        }
        String what = c + " (cache " + types + ")";
        assertSameGraph(what + ", prompt of " + ids.length + " tokens", expected.promptGraph(), promptGraph);
        assertSameGraph(what + ", decode", expected.decodeGraph(), decodeGraph);
        System.out.printf("graphs %-28s cache %s, prompt: %d nodes, decode: %d nodes, all as libllama's%n",
                c, types, promptGraph.size(), decodeGraph.size());
    }

    /** Fails with the first differences (at most 10) between libllama's graph and panllama's. */
    static void assertSameGraph(String what, List<GraphNode> expected, List<GraphNode> actual) {
        List<String> differences = new ArrayList<>();
        int n = Math.min(expected.size(), actual.size());
        for (int i = 0; i < n && differences.size() < 10; i++) {
            String difference = difference(expected.get(i), actual.get(i));
            if (difference != null) {
                differences.add("node " + i + " (libllama's " + expected.get(i).name() + "): " + difference);
            }
        }
        if (expected.size() != actual.size() && differences.size() < 10) {
            differences.add("libllama's graph has " + expected.size() + " nodes, panllama's " + actual.size());
        }
        assertTrue(differences.isEmpty(), what + ": the graphs differ\n  " + String.join("\n  ", differences));
    }

    /** What differs between two nodes at the same place, or null. */
    static String difference(GraphNode expected, GraphNode actual) {
        if (expected.op() != actual.op()) {
            return "op " + GraphNode.opName(expected.op()) + " vs " + GraphNode.opName(actual.op());
        }
        String op = GraphNode.opName(expected.op()) + " ";
        if (expected.type() != actual.type()) {
            return op + "type " + GraphNode.typeName(expected.type()) + " vs " + GraphNode.typeName(actual.type());
        }
        if (!Arrays.equals(expected.ne(), actual.ne())) {
            return op + "shape " + Arrays.toString(expected.ne()) + " vs " + Arrays.toString(actual.ne());
        }
        if (!Arrays.equals(expected.nb(), actual.nb())) {
            return op + "strides " + Arrays.toString(expected.nb()) + " vs " + Arrays.toString(actual.nb());
        }
        if (!Arrays.equals(expected.opParams(), actual.opParams())) {
            return op + "parameters " + Arrays.toString(expected.opParams()) + " vs " + Arrays.toString(actual.opParams());
        }
        if (expected.sources().size() != actual.sources().size()) {
            return op + expected.sources().size() + " sources vs " + actual.sources().size();
        }
        for (int s = 0; s < expected.sources().size(); s++) {
            GraphNode.Source e = expected.sources().get(s);
            GraphNode.Source a = actual.sources().get(s);
            boolean same = e.node() == a.node() && (e.node() >= 0 || e.name().equals(a.name())) && e.op() == a.op()
                    && e.type() == a.type() && Arrays.equals(e.ne(), a.ne()) && Arrays.equals(e.nb(), a.nb());
            if (!same) {
                return op + "source " + s + " " + describe(e) + " vs " + describe(a);
            }
        }
        return null;
    }

    private static String describe(GraphNode.Source s) {
        return (s.node() >= 0 ? "node " + s.node() : s.name()) + " " + GraphNode.opName(s.op()) + " "
                + GraphNode.typeName(s.type()) + " " + Arrays.toString(s.ne()) + " nb " + Arrays.toString(s.nb());
    }
}
