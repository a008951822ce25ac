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
    /** Nodes the scheduler must compute on the CPU, whatever the backends around them ({@link #computeOnHost}). */
    private final List<Tensor> hostNodes = new ArrayList<>();

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

    /**
     * Has the scheduler compute {@code node} on the CPU ({@link Scheduler#allocate}). ggml's scheduler gives
     * an op that reads no weights the backend of the ops around it, a device's where those run there; this
     * keeps work on data in host memory whose intermediates are larger than its result on the host, so that
     * only the result crosses to the device.
     */
    public ComputeGraph computeOnHost(Tensor node) {
        context.own(node);
        hostNodes.add(node);
        return this;
    }

    List<Tensor> hostNodes() {
        return hostNodes;
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
