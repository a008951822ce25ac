package dev.panllama.quantize;

import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufArray;
import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufTensorInfo;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * An importance matrix in llama.cpp's imatrix GGUF format: per weight, {@code NAME.in_sum2} (the summed
 * squares of the activations each column met, per expert) and {@code NAME.counts} (how many, per
 * expert). The importance of a column is their quotient, 1 where an expert saw nothing.
 */
public final class ImportanceMatrix {

    private final Map<String, float[]> importance;
    private final List<String> datasets;
    private final int chunks;

    private ImportanceMatrix(Map<String, float[]> importance, List<String> datasets, int chunks) {
        this.importance = importance;
        this.datasets = datasets;
        this.chunks = chunks;
    }

    /**
     * Reads {@code file}.
     *
     * @throws GgufException when it is not an imatrix GGUF, or holds values that are not finite
     */
    public static ImportanceMatrix load(Path file) {
        try (GgufFile gguf = GgufFile.open(file)) {
            var metadata = gguf.metadata();
            if (!metadata.contains("imatrix.datasets") || !metadata.contains("imatrix.chunk_count")
                    || !metadata.contains("imatrix.chunk_size")) {
                throw new GgufException(file + " is not an imatrix GGUF (it lacks the imatrix.* metadata)");
            }
            List<String> datasets = List.of(metadata.findArray("imatrix.datasets").map(GgufArray::strings).orElse(new String[0]));
            Map<String, float[]> importance = new HashMap<>();
            for (GgufTensorInfo sums : gguf.tensors()) {
                if (!sums.name().endsWith(".in_sum2")) {
                    continue;
                }
                String weight = sums.name().substring(0, sums.name().length() - ".in_sum2".length());
                GgufTensorInfo counts = gguf.findTensor(weight + ".counts")
                        .orElseThrow(() -> new GgufException(file + ": " + weight + " has sums but no counts"));
                if (sums.type() != GgmlType.F32 || counts.type() != GgmlType.F32) {
                    throw new GgufException(file + ": the sums and counts of " + weight + " must be F32");
                }
                float[] sum = gguf.data(sums).toArray(ValueLayout.JAVA_FLOAT);
                float[] count = gguf.data(counts).toArray(ValueLayout.JAVA_FLOAT);
                if (count.length == 0 || sum.length % count.length != 0) {
                    throw new GgufException(file + ": " + weight + " has " + sum.length + " sums for " + count.length + " counts");
                }
                int columns = sum.length / count.length;
                float[] values = new float[sum.length];
                for (int expert = 0; expert < count.length; expert++) {
                    for (int c = 0; c < columns; c++) {
                        int i = expert * columns + c;
                        values[i] = count[expert] > 0 ? sum[i] / count[expert] : 1;
                        if (!Float.isFinite(values[i])) {
                            throw new GgufException(file + ": the importance of " + weight + " is not finite");
                        }
                    }
                }
                importance.put(weight, values);
            }
            return new ImportanceMatrix(importance, datasets, metadata.getInt("imatrix.chunk_count"));
        }
    }

    /** The importance of a weight's columns, one row of them per expert; empty when the matrix has none. */
    public Optional<float[]> of(String weight) {
        return Optional.ofNullable(importance.get(weight));
    }

    public int entries() {
        return importance.size();
    }

    public List<String> datasets() {
        return datasets;
    }

    public int chunks() {
        return chunks;
    }
}
