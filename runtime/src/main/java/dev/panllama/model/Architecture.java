package dev.panllama.model;

import dev.panllama.gguf.GgufMetadata;
import dev.panllama.model.llama.Llama;
import dev.panllama.model.llama4.Llama4;

import java.util.List;

/**
 * A model family panllama implements, each in a package of its own ({@code model.llama4},
 * {@code model.llama}) as llama.cpp keeps one file per architecture over shared blocks: how it reads its
 * hyperparameters, which weights it has, and its graph.
 */
public interface Architecture {

    /** Every architecture, by its {@code general.architecture} name. */
    List<Architecture> ALL = List.of(new Llama(), new Llama4());

    /** The GGUF's {@code general.architecture}. */
    String name();

    /** The file's hyperparameters completed with the family's rules, checked. */
    ModelConfig configure(GgufMetadata metadata);

    /** Every weight of a model so configured: model-wide ones first, then layer by layer. */
    List<WeightSpec> weights(ModelConfig config);

    GraphBuilder graph();

    /**
     * The architecture named by the file's {@code general.architecture}.
     *
     * @throws UnsupportedArchitectureException naming it and the supported ones
     */
    static Architecture of(GgufMetadata metadata) {
        return named(metadata.getString(ModelKey.ARCHITECTURE.of("")));
    }

    /** The architecture called {@code name}, e.g. {@code llama4}. */
    static Architecture named(String name) {
        return ALL.stream().filter(a -> a.name().equals(name)).findFirst()
                .orElseThrow(() -> new UnsupportedArchitectureException(name, ALL.stream().map(Architecture::name).toList()));
    }
}
