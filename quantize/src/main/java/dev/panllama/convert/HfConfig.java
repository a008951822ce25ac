package dev.panllama.convert;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A checkpoint's {@code config.json}, with a multimodal model's {@code text_config} lifted to the top
 * level as llama.cpp's converter does (Llama 4 keeps its language model's settings there).
 */
public final class HfConfig {

    private final Path file;
    private final Map<String, Object> values;

    HfConfig(Path file, Map<String, Object> values) {
        this.file = file;
        this.values = values;
    }

    @SuppressWarnings("unchecked")
    static HfConfig read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException(file + " is missing: a Hugging Face checkpoint folder has a config.json");
        }
        Map<String, Object> top = JsonFiles.readObject(file);
        Map<String, Object> merged = new LinkedHashMap<>(top);
        if (top.get("text_config") instanceof Map<?, ?> text) {
            merged.putAll((Map<String, Object>) text);
        }
        return new HfConfig(file, merged);
    }

    /** The first of {@code architectures}, e.g. Llama4ForConditionalGeneration. */
    public String architecture() {
        if (values.get("architectures") instanceof List<?> list && !list.isEmpty() && list.getFirst() instanceof String name) {
            return name;
        }
        throw new CheckpointException(file + " names no architectures");
    }

    public boolean has(String key) {
        return values.get(key) != null;
    }

    public Optional<Object> find(String key) {
        return Optional.ofNullable(values.get(key));
    }

    public Optional<Double> findNumber(String key) {
        Object value = values.get(key);
        if (value == null) {
            return Optional.empty();
        }
        if (value instanceof Double d) {
            return Optional.of(d);
        }
        throw new CheckpointException(file + ": " + key + " is " + value + ", not a number");
    }

    public Optional<Integer> findInt(String key) {
        return findNumber(key).map(d -> {
            if (d != Math.rint(d) || Math.abs(d) > Integer.MAX_VALUE) {
                throw new CheckpointException(file + ": " + key + " is " + d + ", not an integer");
            }
            return d.intValue();
        });
    }

    public int requireInt(String key) {
        return findInt(key).orElseThrow(() -> missing(key));
    }

    public double requireNumber(String key) {
        return findNumber(key).orElseThrow(() -> missing(key));
    }

    /** A nested object such as rope_scaling, or an empty map. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> object(String key) {
        return values.get(key) instanceof Map<?, ?> map ? (Map<String, Object>) map : Map.of();
    }

    public Path file() {
        return file;
    }

    private CheckpointException missing(String key) {
        return new CheckpointException(file + ": " + key + " is missing");
    }
}
