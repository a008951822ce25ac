package dev.panllama.convert;

import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Quantization;
import dev.panllama.gguf.GgufTensorInfo;
import dev.panllama.gguf.GgufValue;
import dev.panllama.gguf.GgufWriter;
import dev.panllama.model.Architecture;
import dev.panllama.model.ModelKey;
import dev.panllama.model.WeightSpec;
import dev.panllama.quantize.FileType;
import dev.panllama.quantize.TypeSelector;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * Hugging Face checkpoint to GGUF, as llama.cpp's {@code convert_hf_to_gguf.py} makes it (metadata,
 * tensor names, shapes and layouts), with the quantization in the same pass when a quantized type is
 * asked for. Tensors are read from the mapped shards a slab of rows at a time, converted to F32, then
 * to the tensor's type by ggml on several threads, and streamed to a file beside the target that is
 * renamed into place when whole: memory stays near {@link #SLAB_BYTES} whatever the model's size.
 */
public final class Converter {

    /** Upper bound of one slab's working memory: its rows as F32 and in the target type. */
    public static final long SLAB_BYTES = 64L << 20;
    private static final int QUANTIZATION_VERSION = 2;
    /** The types llama.cpp's converter writes itself; any other is a llama-quantize mix over F16. */
    private static final Set<FileType> CONVERTER_TYPES = Set.of(FileType.F32, FileType.F16, FileType.BF16, FileType.Q8_0);

    /** {@code type} null: BF16 or F16, whichever the checkpoint's weights are (llama.cpp's "auto"). */
    public record Options(FileType type, int threads) {
        public Options {
            if (threads < 1) {
                throw new IllegalArgumentException("--threads must be at least 1, not " + threads);
            }
        }
    }

    /** Told after each tensor. */
    @FunctionalInterface
    public interface Progress {
        void update(int tensorsDone, int tensors, long parametersDone, long parameters);
    }

    public record Summary(String architecture, FileType type, int tensors, long parameters, long bytes, double seconds) {
        public double bitsPerWeight() {
            return parameters == 0 ? 0 : bytes * 8.0 / parameters;
        }
    }

    private Converter() {
    }

    public static Summary convert(Path directory, Path output, Options options, Progress progress, Consumer<String> notices)
            throws IOException {
        if (Files.isDirectory(output)) {
            throw new IllegalArgumentException(output + " is a folder; give the GGUF file to write");
        }
        long start = System.nanoTime();
        try (Checkpoint checkpoint = Checkpoint.open(directory)) {
            if (checkpoint.readsFrom(output)) {
                throw new IllegalArgumentException("the output must not be one of the checkpoint's own files (" + output + ")");
            }
            CheckpointLayout layout = CheckpointLayout.of(checkpoint.config());
            HfTokenizer tokenizer = HfTokenizer.read(checkpoint.directory(), checkpoint.config());
            FileType type = options.type() != null ? options.type() : autoType(checkpoint);
            // A quantization mix is made as llama.cpp users make it: convert (auto type), then llama-quantize.
            FileType base = CONVERTER_TYPES.contains(type) ? type : autoType(checkpoint);
            String arch = layout.architecture();
            GgufWriter writer = new GgufWriter()
                    .put(ModelKey.ARCHITECTURE.of(arch), arch)
                    .put("general.type", "model")
                    .put(ModelKey.NAME.of(arch), directory.toAbsolutePath().normalize().getFileName().toString());
            layout.putMetadata(writer);
            // The weights are the ones the model family lists for that metadata, as a reader will expect them.
            Architecture architecture = Architecture.named(arch);
            List<WeightSpec> weights = architecture.weights(architecture.configure(writer.metadata()));
            // Model-wide tensors first, then by layer and name: the order llama-quantize visits and writes.
            List<PlannedTensor> plan = layout.plan(weights, checkpoint.tensors(), notices).stream()
                    .sorted(TypeSelector.llamaOrder(PlannedTensor::name)).toList();
            writer.put(ModelKey.FILE_TYPE.of(arch), GgufValue.ofUint32(type.id()))
                    .put("general.quantization_version", GgufValue.ofUint32(QUANTIZATION_VERSION));
            tokenizer.writeTo(writer);

            TypeSelector selector = CONVERTER_TYPES.contains(type) ? null : new TypeSelector(
                    TypeSelector.Model.of(arch, layout.layers, layout.heads, layout.kvHeads, layout.experts(),
                            plan.stream().map(PlannedTensor::name).toList()),
                    new TypeSelector.Options(type, false, null, null, false));
            long parameters = plan.stream().mapToLong(t -> t.rows() * t.rowLength()).sum();
            long[] done = {0};
            int[] count = {0};
            long bytes = 0;
            try (ExecutorService pool = Executors.newFixedThreadPool(options.threads())) {
                for (PlannedTensor tensor : plan) {
                    GgmlType converted = converterType(tensor, base);
                    GgmlType target = selector == null ? converted
                            : selector.select(new GgufTensorInfo(tensor.name(), converted, tensor.shape(), 0, 0));
                    bytes += target.rowBytes(tensor.rowLength()) * tensor.rows();
                    writer.tensor(tensor.name(), target, tensor.shape(), out -> {
                        write(tensor, converted, target, out, pool, options.threads());
                        if (tensor.origin() != null) {
                            // Done with these pages of the shard: let them go, so resident memory stays bounded.
                            tensor.origin().data().unload();
                        }
                        done[0] += tensor.rows() * tensor.rowLength();
                        progress.update(++count[0], plan.size(), done[0], parameters);
                    });
                }
                writer.write(output);
            }
            return new Summary(arch, type, plan.size(), parameters, bytes, (System.nanoTime() - start) / 1e9);
        }
    }

    /** llama.cpp's "auto": the first matrix's type if BF16 or F16, else F16. */
    private static FileType autoType(Checkpoint checkpoint) {
        for (SafetensorsFile.Tensor tensor : checkpoint.tensors().values()) {
            if (tensor.shape().length >= 2 && tensor.dtype() == SafetensorsFile.Dtype.BF16) {
                return FileType.BF16;
            }
            if (tensor.shape().length >= 2 && tensor.dtype() == SafetensorsFile.Dtype.F16) {
                return FileType.F16;
            }
        }
        return FileType.F16;
    }

    /**
     * The type llama.cpp's converter gives a tensor: vectors, norms and the MoE router stay F32; Q8_0
     * falls back to F16 for rows its blocks cannot divide.
     */
    static GgmlType converterType(PlannedTensor tensor, FileType type) {
        if (tensor.shape().length <= 1 || tensor.name().endsWith("_norm.weight") || tensor.name().contains("ffn_gate_inp")) {
            return GgmlType.F32;
        }
        GgmlType wanted = type.defaultType();
        if (wanted.isQuantized() && tensor.rowLength() % wanted.blockSize() != 0) {
            return GgmlType.F16;
        }
        return wanted;
    }

    /**
     * Streams one tensor slab by slab: rows read as F32 and converted on the pool, then written. When
     * {@code target} is a quantized type, the rows first pass through the {@code converted} type, so the
     * bytes are those llama-quantize makes from the converted file.
     */
    private static void write(PlannedTensor tensor, GgmlType converted, GgmlType target, WritableByteChannel out,
                              ExecutorService pool, int threads) throws IOException {
        long rowLength = tensor.rowLength();
        long rows = tensor.rows();
        long targetRow = target.rowBytes(rowLength);
        boolean roundFirst = target != converted && converted != GgmlType.F32;
        long convertedRow = roundFirst ? converted.rowBytes(rowLength) : 0;
        long slabRows = Math.max(1, Math.min(rows, SLAB_BYTES / (rowLength * Float.BYTES + targetRow + convertedRow)));
        try (Arena arena = Arena.ofShared()) {
            MemorySegment floats = arena.allocate(slabRows * rowLength * Float.BYTES, 64);
            MemorySegment result = arena.allocate(slabRows * targetRow, 64);
            MemorySegment rounded = roundFirst ? arena.allocate(slabRows * convertedRow, 64) : MemorySegment.NULL;
            for (long row = 0; row < rows; row += slabRows) {
                long n = Math.min(slabRows, rows - row);
                long rowsPerTask = Math.max(1, (n + threads - 1) / threads);
                List<Future<?>> tasks = new ArrayList<>();
                for (long first = 0; first < n; first += rowsPerTask) {
                    long from = first;
                    long count = Math.min(rowsPerTask, n - first);
                    long sourceRow = row + first;
                    tasks.add(pool.submit(() -> {
                        MemorySegment in = floats.asSlice(from * rowLength * Float.BYTES, count * rowLength * Float.BYTES);
                        MemorySegment to = result.asSlice(from * targetRow, count * targetRow);
                        tensor.source().read(sourceRow, count, rowLength, in);
                        if (roundFirst) {
                            MemorySegment through = rounded.asSlice(from * convertedRow, count * convertedRow);
                            Quantization.quantize(converted, in, count, rowLength, through);
                            Quantization.toFloat(converted, through, count * rowLength, in);
                        }
                        if (target == GgmlType.F32) {
                            MemorySegment.copy(in, 0, to, 0, to.byteSize());
                        } else {
                            Quantization.quantize(target, in, count, rowLength, to);
                        }
                    }));
                }
                await(tasks, tensor.name());
                GgufWriter.TensorData.of(result.asSlice(0, n * targetRow)).writeTo(out);
            }
        }
    }

    private static void await(List<Future<?>> tasks, String tensor) throws IOException {
        try {
            for (Future<?> task : tasks) {
                task.get();
            }
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw new IOException("converting " + tensor + " failed: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while converting " + tensor, e);
        }
    }
}
