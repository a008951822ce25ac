package dev.panllama.ggml;

import dev.panllama.bindings.ggml.Ggml;
import dev.panllama.bindings.ggml.ggml_tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * One node of a ggml graph as a test compares it with another graph's: its name, operation, type,
 * shape, strides, operation parameters and sources. {@link #read} takes it from the tensor's struct
 * without calling into ggml, so it also reads the tensors of another copy of the same pinned ggml
 * (the reference libllama's, in its eval callback). Operations and types are ggml's numbers.
 */
public record GraphNode(String name, int op, int type, long[] ne, long[] nb, int[] opParams, List<Source> sources) {

    /**
     * A source of a node: which earlier node of the graph it is ({@code node}, or -1 for a tensor
     * that is no node: a weight, an input, the cache), and its name, operation, type, shape and strides.
     */
    public record Source(int node, String name, int op, int type, long[] ne, long[] nb) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Source s && node == s.node && name.equals(s.name) && op == s.op && type == s.type
                    && Arrays.equals(ne, s.ne) && Arrays.equals(nb, s.nb);
        }

        @Override
        public int hashCode() {
            return name.hashCode() * 31 + Arrays.hashCode(ne);
        }

        @Override
        public String toString() {
            return node + ":" + name + ":" + op + ":" + type + ":" + join(ne) + ":" + join(nb);
        }

        static Source parse(String text) {
            String[] f = text.split(":", -1);
            return new Source(Integer.parseInt(f[0]), f[1], Integer.parseInt(f[2]), Integer.parseInt(f[3]), longs(f[4]), longs(f[5]));
        }
    }

    private static final int MAX_SOURCES = 10;
    private static final int OP_PARAMS = 16;

    /**
     * The node {@code tensor} points at (a {@code struct ggml_tensor *} of any ggml of this pin);
     * {@code earlierNodes} maps the addresses of the graph's nodes before it to their indices.
     */
    public static GraphNode read(MemorySegment tensor, Map<Long, Integer> earlierNodes) {
        MemorySegment t = tensor.reinterpret(ggml_tensor.sizeof());
        List<Source> sources = new ArrayList<>();
        for (int i = 0; i < MAX_SOURCES; i++) {
            MemorySegment src = ggml_tensor.src(t, i);
            if (src.equals(MemorySegment.NULL)) {
                continue;
            }
            MemorySegment s = src.reinterpret(ggml_tensor.sizeof());
            sources.add(new Source(earlierNodes.getOrDefault(src.address(), -1), name(s), ggml_tensor.op(s), ggml_tensor.type(s),
                    ne(s), nb(s)));
        }
        int[] params = new int[OP_PARAMS];
        for (int i = 0; i < OP_PARAMS; i++) {
            params[i] = ggml_tensor.op_params(t, i);
        }
        return new GraphNode(name(t), ggml_tensor.op(t), ggml_tensor.type(t), ne(t), nb(t), params, List.copyOf(sources));
    }

    private static String name(MemorySegment t) {
        return ggml_tensor.name(t).getString(0);
    }

    private static long[] ne(MemorySegment t) {
        long[] ne = new long[4];
        for (int d = 0; d < 4; d++) {
            ne[d] = ggml_tensor.ne(t, d);
        }
        return ne;
    }

    private static long[] nb(MemorySegment t) {
        long[] nb = new long[4];
        for (int d = 0; d < 4; d++) {
            nb[d] = ggml_tensor.nb(t, d);
        }
        return nb;
    }

    /** ggml's name of an operation number (this process's ggml must be loaded). */
    public static String opName(int op) {
        return Ggml.ggml_op_name(op).reinterpret(64).getString(0);
    }

    /** ggml's name of a type number (this process's ggml must be loaded). */
    public static String typeName(int type) {
        return Ggml.ggml_type_name(type).reinterpret(64).getString(0);
    }

    /** One line of text that {@link #parse} reads back: tab-separated, sources last. */
    public String toLine() {
        StringBuilder line = new StringBuilder();
        line.append(name).append('\t').append(op).append('\t').append(type).append('\t').append(join(ne)).append('\t')
                .append(join(nb)).append('\t').append(join(Arrays.stream(opParams).asLongStream().toArray()));
        for (Source s : sources) {
            line.append('\t').append(s);
        }
        return line.toString();
    }

    public static GraphNode parse(String line) {
        String[] f = line.split("\t", -1);
        List<Source> sources = new ArrayList<>();
        for (int i = 6; i < f.length; i++) {
            sources.add(Source.parse(f[i]));
        }
        long[] params = longs(f[5]);
        return new GraphNode(f[0], Integer.parseInt(f[1]), Integer.parseInt(f[2]), longs(f[3]), longs(f[4]),
                Arrays.stream(params).mapToInt(p -> (int) p).toArray(), List.copyOf(sources));
    }

    private static String join(long[] values) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < values.length; i++) {
            s.append(i == 0 ? "" : ",").append(values[i]);
        }
        return s.toString();
    }

    private static long[] longs(String text) {
        return text.isEmpty() ? new long[0] : Arrays.stream(text.split(",")).mapToLong(Long::parseLong).toArray();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GraphNode g && name.equals(g.name) && op == g.op && type == g.type && Arrays.equals(ne, g.ne)
                && Arrays.equals(nb, g.nb) && Arrays.equals(opParams, g.opParams) && sources.equals(g.sources);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + op;
    }

    @Override
    public String toString() {
        return toLine();
    }
}
