package dev.panllama.ggml;

import dev.panllama.bindings.NativeLibraries;
import dev.panllama.bindings.ggml.Ggml;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.EnumSet;
import java.util.Set;

/** ggml's own quantizers: F32 rows in, rows of a quantized (or F16/BF16) type out. */
public final class Quantization {

    /** The types {@code ggml_quantize_chunk} writes; Q8_1 and Q8_K exist only as matmul intermediates. */
    private static final Set<GgmlType> TARGETS = EnumSet.complementOf(EnumSet.of(
            GgmlType.Q8_1, GgmlType.Q8_K, GgmlType.I8, GgmlType.I16, GgmlType.I32, GgmlType.I64, GgmlType.F64));

    private Quantization() {
    }

    public static boolean canQuantizeTo(GgmlType type) {
        return TARGETS.contains(type);
    }

    /** Whether {@code type} needs an importance matrix (IQ2_XXS, IQ2_XS, IQ1_S). */
    public static boolean requiresImportanceMatrix(GgmlType type) {
        NativeLibraries.load();
        return Ggml.ggml_quantize_requires_imatrix(type.id());
    }

    /**
     * Converts {@code elements} values of {@code type} (F16, BF16 or a quantized type) from
     * {@code source} to F32 in {@code target}, as ggml's own dequantizers do.
     */
    public static void toFloat(GgmlType type, MemorySegment source, long elements, MemorySegment target) {
        NativeLibraries.load();
        if (source.byteSize() < type.rowBytes(elements) || target.byteSize() < elements * Float.BYTES) {
            throw new IllegalArgumentException("converting " + elements + " " + type + " values needs "
                    + type.rowBytes(elements) + " source and " + elements * Float.BYTES + " target bytes");
        }
        switch (type) {
            case F32 -> MemorySegment.copy(source, 0, target, 0, elements * Float.BYTES);
            case F16 -> Ggml.ggml_fp16_to_fp32_row(source, target, elements);
            case BF16 -> Ggml.ggml_bf16_to_fp32_row(source, target, elements);
            default -> {
                MemorySegment traits = Ggml.ggml_get_type_traits(type.id())
                        .reinterpret(dev.panllama.bindings.ggml.ggml_type_traits.sizeof());
                MemorySegment toFloat = dev.panllama.bindings.ggml.ggml_type_traits.to_float(traits);
                if (toFloat.equals(MemorySegment.NULL)) {
                    throw new IllegalArgumentException("ggml cannot convert " + type + " to F32");
                }
                dev.panllama.bindings.ggml.ggml_to_float_t.invoke(toFloat, source, target, elements);
            }
        }
    }

    /** Whether {@code data} is well-formed {@code type} data (no NaN or infinite scales, for example). */
    public static boolean isValid(GgmlType type, MemorySegment data) {
        NativeLibraries.load();
        return Ggml.ggml_validate_row_data(type.id(), data, data.byteSize());
    }

    /**
     * Quantizes {@code rows} rows of {@code rowLength} F32 values from {@code source} into
     * {@code target}, which must hold exactly {@code rows * type.rowBytes(rowLength)} bytes.
     * Returns the bytes written.
     */
    public static long quantize(GgmlType type, MemorySegment source, long rows, long rowLength, MemorySegment target) {
        return quantize(type, source, rows, rowLength, target, MemorySegment.NULL);
    }

    /**
     * As {@link #quantize(GgmlType, MemorySegment, long, long, MemorySegment)}, weighting each column
     * by {@code importance} ({@code rowLength} floats, or NULL for none): an importance matrix, as
     * llama.cpp's imatrix tool measures it, lets the quantizer keep the columns that matter.
     */
    public static long quantize(GgmlType type, MemorySegment source, long rows, long rowLength, MemorySegment target,
                                MemorySegment importance) {
        if (!canQuantizeTo(type)) {
            throw new IllegalArgumentException("ggml cannot quantize to " + type);
        }
        boolean weighted = !importance.equals(MemorySegment.NULL);
        if (!weighted && requiresImportanceMatrix(type)) {
            throw new IllegalArgumentException(type + " needs an importance matrix");
        }
        if (weighted && importance.byteSize() < rowLength * Float.BYTES) {
            throw new IllegalArgumentException("the importance matrix needs " + rowLength + " values per row");
        }
        long expected = rows * type.rowBytes(rowLength);
        if (source.byteSize() < rows * rowLength * ValueLayout.JAVA_FLOAT.byteSize() || target.byteSize() < expected) {
            throw new IllegalArgumentException("quantizing " + rows + " x " + rowLength + " to " + type + " takes "
                    + rows * rowLength * 4 + " source bytes and " + expected + " target bytes, not "
                    + source.byteSize() + " and " + target.byteSize());
        }
        return Ggml.ggml_quantize_chunk(type.id(), source, target, 0, rows, rowLength, importance);
    }
}
