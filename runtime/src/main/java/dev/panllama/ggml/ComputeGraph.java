package dev.panllama.ggml;

import dev.panllama.bindings.ggml.Ggml;

import java.lang.foreign.MemorySegment;

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
}
