package dev.panllama.quantize;

import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Quantization;
import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufMetadata;
import dev.panllama.gguf.GgufTensorInfo;
import dev.panllama.gguf.GgufValue;
import dev.panllama.gguf.GgufWriter;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * GGUF to GGUF quantization, as llama-quantize makes it: the same type for every tensor, the same
 * bytes (ggml quantizes, on several threads), the same metadata. Tensors are read from the mapped
 * input, whose pages are released once a tensor is done, and written one slab of rows at a time, so
 * memory stays near {@link #SLAB_BYTES} plus the largest tensor's mapped pages whatever the model's size. The output is written beside its target and renamed into
 * place when whole; the input is only read.
 */
public final class Quantizer {

    /** Upper bound of the working memory of one slab: source rows, their F32 form and the result. */
    public static final long SLAB_BYTES = 128L << 20;
    private static final int QUANTIZATION_VERSION = 2;

    /**
     * What to make. {@code outputType} and {@code embeddingType} may be null (the mix decides);
     * {@code importance} is an imatrix GGUF, or null; with {@code keepSplit} a split input gives a
     * split output of as many parts, named {@code OUT-00001-of-0000N.gguf} like llama-quantize's.
     */
    public record Options(FileType type, boolean allowRequantize, boolean pure, GgmlType outputType,
                          GgmlType embeddingType, int threads, Path importance, boolean keepSplit) {
        public Options {
            if (threads < 1) {
                throw new IllegalArgumentException("--threads must be at least 1, not " + threads);
            }
        }
    }

    /** Told after each tensor. */
    @FunctionalInterface
    public interface Progress {
        void update(int tensorsDone, int tensors, long bytesDone, long bytesTotal);
    }

    /** What a quantization did. */
    public record Summary(int tensors, long parameters, long bytesBefore, long bytesAfter, double seconds) {
        public double bitsPerWeightBefore() {
            return parameters == 0 ? 0 : bytesBefore * 8.0 / parameters;
        }

        public double bitsPerWeightAfter() {
            return parameters == 0 ? 0 : bytesAfter * 8.0 / parameters;
        }
    }

    private Quantizer() {
    }

    /**
     * The order llama-quantize visits and writes tensors in: by layer (model-wide ones first), then by
     * name; with {@code keepSplit}, by part and place in the part instead.
     */
    static List<GgufTensorInfo> inLlamaOrder(List<GgufTensorInfo> tensors, boolean keepSplit) {
        Comparator<GgufTensorInfo> order = keepSplit
                ? Comparator.comparingInt(GgufTensorInfo::part).thenComparingLong(GgufTensorInfo::offset)
                : TypeSelector.llamaOrder(GgufTensorInfo::name);
        return tensors.stream().sorted(order).toList();
    }

    /** Where each part goes: OUT itself, or with keepSplit OUT (less .gguf) -0000i-of-0000N.gguf. */
    static List<Path> outputParts(Path output, boolean keepSplit, int parts) {
        if (!keepSplit) {
            return List.of(output);
        }
        String name = output.getFileName().toString();
        String prefix = name.endsWith(".gguf") ? name.substring(0, name.length() - ".gguf".length()) : name;
        List<Path> paths = new ArrayList<>();
        for (int i = 1; i <= parts; i++) {
            paths.add(output.resolveSibling(String.format("%s-%05d-of-%05d.gguf", prefix, i, parts)));
        }
        return paths;
    }

    public static Summary quantize(Path input, Path output, Options options, Progress progress) throws IOException {
        if (input.toAbsolutePath().normalize().equals(output.toAbsolutePath().normalize())
                || (Files.exists(output) && Files.isSameFile(input, output))) {
            throw new IllegalArgumentException("the output must not be the input (" + input + ")");
        }
        long start = System.nanoTime();
        ImportanceMatrix importance = options.importance() == null ? null : ImportanceMatrix.load(options.importance());
        try (GgufFile file = GgufFile.open(input)) {
            GgufMetadata metadata = file.metadata();
            List<GgufTensorInfo> tensors = inLlamaOrder(file.tensors(), options.keepSplit());
            int parts = options.keepSplit() ? file.parts().size() : 1;
            List<Path> outputs = outputParts(output, options.keepSplit(), parts);
            for (Path part : outputs) {
                if (file.parts().stream().anyMatch(p -> p.toAbsolutePath().normalize().equals(part.toAbsolutePath().normalize()))) {
                    throw new IllegalArgumentException("the output must not be the input (" + part + ")");
                }
            }
            TypeSelector selector = new TypeSelector(model(metadata, tensors), new TypeSelector.Options(
                    options.type(), options.pure(), options.outputType(), options.embeddingType(), importance != null));

            GgufWriter writer = new GgufWriter().putAll(metadata)
                    .remove("split.no").remove("split.count").remove("split.tensors.count")
                    .put("general.quantization_version", GgufValue.ofUint32(QUANTIZATION_VERSION))
                    .put("general.file_type", GgufValue.ofUint32(options.type().id()));
            if (importance != null) {
                // The record llama-quantize leaves of the importance matrix it used.
                writer.put("quantize.imatrix.file", options.importance().toString());
                if (!importance.datasets().isEmpty()) {
                    writer.put("quantize.imatrix.dataset", importance.datasets().getFirst());
                }
                writer.put("quantize.imatrix.entries_count", GgufValue.ofUint32(importance.entries()));
                if (importance.chunks() > 0) {
                    writer.put("quantize.imatrix.chunks_count", GgufValue.ofUint32(importance.chunks()));
                }
            }
            // The first part holds the metadata; the others only say which part they are, as llama-quantize's do.
            List<GgufWriter> writers = new ArrayList<>(List.of(writer));
            for (int i = 1; i < parts; i++) {
                writers.add(new GgufWriter());
            }
            if (options.keepSplit()) {
                for (int i = 0; i < parts; i++) {
                    writers.get(i).put("split.no", new GgufValue(dev.panllama.gguf.GgufValueType.UINT16, (long) i))
                            .put("split.count", new GgufValue(dev.panllama.gguf.GgufValueType.UINT16, (long) parts))
                            .put("split.tensors.count", GgufValue.ofInt32(tensors.size()));
                }
            }
            long before = 0, after = 0, parameters = 0;
            long[] done = {0};
            int[] count = {0};
            long total = tensors.stream().mapToLong(GgufTensorInfo::byteSize).sum();
            try (ExecutorService pool = Executors.newFixedThreadPool(options.threads())) {
                for (GgufTensorInfo tensor : tensors) {
                    GgmlType target = selector.select(tensor);
                    if (target != tensor.type() && tensor.type().isQuantized() && !options.allowRequantize()) {
                        throw new IllegalArgumentException("tensor " + tensor.name() + " is already " + tensor.type()
                                + "; requantizing loses quality, allow it with --allow-requantize");
                    }
                    GgufTensorInfo converted = new GgufTensorInfo(tensor.name(), target, tensor.shape(), 0, 0);
                    before += tensor.byteSize();
                    after += converted.byteSize();
                    parameters += tensor.elementCount();
                    MemorySegment source = file.data(tensor);
                    float[] weights = target == tensor.type() ? null : importanceOf(importance, tensor);
                    writers.get(options.keepSplit() ? tensor.part() : 0).tensor(tensor.name(), target, tensor.shape(), out -> {
                        if (target == tensor.type()) {
                            GgufWriter.TensorData.of(source).writeTo(out);
                        } else {
                            convert(tensor, target, source, weights, out, pool, options.threads());
                        }
                        // Done with these pages of the input: let them go, so resident memory stays bounded.
                        source.unload();
                        done[0] += tensor.byteSize();
                        progress.update(++count[0], tensors.size(), done[0], total);
                    });
                }
                for (int i = 0; i < parts; i++) {
                    writers.get(i).write(outputs.get(i));
                }
            }
            return new Summary(tensors.size(), parameters, before, after, (System.nanoTime() - start) / 1e9);
        }
    }

    /** The tensor's column importance, one row per expert; null without a matrix or an entry for it. */
    private static float[] importanceOf(ImportanceMatrix importance, GgufTensorInfo tensor) {
        if (importance == null) {
            return null;
        }
        float[] values = importance.of(tensor.name()).orElse(null);
        if (values != null && values.length != tensor.dim(0) * tensor.dim(2)) {
            if (tensor.name().equals("token_embd.weight")) {
                return null;
            }
            throw new IllegalArgumentException("the importance matrix has " + values.length + " values for "
                    + tensor.name() + ", which needs " + tensor.dim(0) * tensor.dim(2));
        }
        return values;
    }

    private static TypeSelector.Model model(GgufMetadata metadata, List<GgufTensorInfo> tensors) {
        String arch = metadata.getString("general.architecture");
        int heads = metadata.findIntOrFirst(arch + ".attention.head_count").orElse(1);
        return TypeSelector.Model.of(arch, metadata.getInt(arch + ".block_count"), heads,
                metadata.findIntOrFirst(arch + ".attention.head_count_kv").orElse(heads),
                metadata.findInt(arch + ".expert_count").orElse(0), tensors.stream().map(GgufTensorInfo::name).toList());
    }

    /** Converts one tensor slab by slab: to F32, then to the target type in row chunks on the pool. */
    private static void convert(GgufTensorInfo tensor, GgmlType target, MemorySegment source, float[] importance,
                                WritableByteChannel out, ExecutorService pool, int threads) throws IOException {
        long rowLength = tensor.dim(0);
        long rows = tensor.elementCount() / rowLength;
        long sourceRow = tensor.type().rowBytes(rowLength);
        long targetRow = target.rowBytes(rowLength);
        long rowCost = sourceRow + targetRow + rowLength * Float.BYTES;
        long slabRows = Math.max(1, Math.min(rows, SLAB_BYTES / rowCost));
        // Shared: the pool's threads read and write these buffers.
        try (Arena arena = Arena.ofShared()) {
            MemorySegment floats = arena.allocate(slabRows * rowLength * Float.BYTES, 64);
            MemorySegment result = arena.allocate(slabRows * targetRow, 64);
            MemorySegment weights = importance == null ? MemorySegment.NULL
                    : arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_FLOAT, importance);
            for (long row = 0; row < rows; row += slabRows) {
                long n = Math.min(slabRows, rows - row);
                MemorySegment slab = source.asSlice(row * sourceRow, n * sourceRow);
                Quantization.toFloat(tensor.type(), slab, n * rowLength, floats);
                MemorySegment converted = result.asSlice(0, n * targetRow);
                if (target == GgmlType.F32) {
                    MemorySegment.copy(floats, 0, converted, 0, n * targetRow);
                } else {
                    quantizeRows(target, floats, converted, row, n, tensor.dim(1), rowLength, weights, pool, threads);
                }
                if (target.isQuantized() && !Quantization.isValid(target, converted)) {
                    throw new GgufException("tensor " + tensor.name() + ": ggml produced invalid " + target
                            + " data (the source has NaN or infinite values?)");
                }
                GgufWriter.TensorData.of(converted).writeTo(out);
            }
        }
    }

    /**
     * Quantizes the slab's {@code rows} rows (the tensor's rows {@code firstRow..}) in tasks on the pool.
     * A task never crosses from one expert's matrix into the next: each has its own importance row.
     */
    private static void quantizeRows(GgmlType target, MemorySegment floats, MemorySegment converted, long firstRow,
                                     long rows, long rowsPerExpert, long rowLength, MemorySegment importance,
                                     ExecutorService pool, int threads) throws IOException {
        long rowsPerTask = Math.max(1, (rows + threads - 1) / threads);
        long floatRow = rowLength * Float.BYTES;
        long targetRow = target.rowBytes(rowLength);
        List<Future<?>> tasks = new ArrayList<>();
        for (long first = 0; first < rows; ) {
            long global = firstRow + first;
            long count = Math.min(Math.min(rowsPerTask, rows - first), rowsPerExpert - global % rowsPerExpert);
            MemorySegment from = floats.asSlice(first * floatRow, count * floatRow);
            MemorySegment to = converted.asSlice(first * targetRow, count * targetRow);
            MemorySegment weights = importance.equals(MemorySegment.NULL) ? importance
                    : importance.asSlice(global / rowsPerExpert * floatRow, floatRow);
            tasks.add(pool.submit(() -> Quantization.quantize(target, from, count, rowLength, to, weights)));
            first += count;
        }
        try {
            for (Future<?> task : tasks) {
                task.get();
            }
        } catch (ExecutionException e) {
            throw new IOException("quantizing failed: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while quantizing", e);
        }
    }
}
