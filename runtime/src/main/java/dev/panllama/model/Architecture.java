package dev.panllama.model;

import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufMetadata;

import java.util.List;

/**
 * A model architecture panllama implements: how it reads its hyperparameters and builds its graph.
 * One implementation per architecture, each in its own small class.
 */
public sealed interface Architecture permits Llama4Architecture, LlamaArchitecture {

    /** Every architecture, by its {@code general.architecture} name. */
    List<Architecture> ALL = List.of(new LlamaArchitecture(), new Llama4Architecture());

    String name();

    ModelConfig configure(GgufMetadata metadata);

    GraphBuilder graphBuilder();

    /**
     * The architecture named by the file's {@code general.architecture}.
     *
     * @throws UnsupportedArchitectureException naming it and the supported ones
     */
    static Architecture of(GgufMetadata metadata) {
        String name = metadata.getString(ModelKey.ARCHITECTURE.of(""));
        return ALL.stream().filter(a -> a.name().equals(name)).findFirst()
                .orElseThrow(() -> new UnsupportedArchitectureException(name, ALL.stream().map(Architecture::name).toList()));
    }

    /** Checks a positive value, naming the key when it is not. */
    static int positive(int value, String key) {
        if (value <= 0) {
            throw new GgufException("metadata key " + key + " must be positive, not " + value);
        }
        return value;
    }
}
