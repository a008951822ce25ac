package dev.panllama.ggml;

import dev.panllama.bindings.ggml.Ggml;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A ggml compute graph, made and owned by a {@link GgmlContext}. */
public final class ComputeGraph {

    private final GgmlContext context;
    private final MemorySegment handle;

    ComputeGraph(GgmlContext context, MemorySegment handle) {
        this.context = context;
        this.handle = handle;
    }

    MemorySegment handle() {
        return handle;
    }

    /** Adds {@code output} and what it depends on to the graph. */
    public ComputeGraph expand(Tensor output) {
        context.own(output);
        Ggml.ggml_build_forward_expand(handle, output.handle());
        return this;
    }

    public int nodeCount() {
        return Ggml.ggml_graph_n_nodes(handle);
    }

    /** The graph's nodes in the order ggml computes them (tests compare them with the reference's). */
    public List<GraphNode> nodes() {
        List<GraphNode> nodes = new ArrayList<>(nodeCount());
        Map<Long, Integer> indices = new HashMap<>();
        for (int i = 0; i < nodeCount(); i++) {
            MemorySegment node = Ggml.ggml_graph_node(handle, i);
            nodes.add(GraphNode.read(node, indices));
            indices.put(node.address(), i);
        }
        return nodes;
    }
}
