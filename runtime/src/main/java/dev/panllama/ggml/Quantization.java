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
     * Quantizes {@code rows} rows of {@code rowLength} F32 values from {@code source} into
     * {@code target}, which must hold exactly {@code rows * type.rowBytes(rowLength)} bytes.
     * Returns the bytes written.
     */
    public static long quantize(GgmlType type, MemorySegment source, long rows, long rowLength, MemorySegment target) {
        if (!canQuantizeTo(type)) {
            throw new IllegalArgumentException("ggml cannot quantize to " + type);
        }
        if (requiresImportanceMatrix(type)) {
            throw new IllegalArgumentException(type + " needs an importance matrix");
        }
        long expected = rows * type.rowBytes(rowLength);
        if (source.byteSize() != rows * rowLength * ValueLayout.JAVA_FLOAT.byteSize() || target.byteSize() != expected) {
            throw new IllegalArgumentException("quantizing " + rows + " x " + rowLength + " to " + type + " takes "
                    + rows * rowLength * 4 + " source bytes and " + expected + " target bytes, not "
                    + source.byteSize() + " and " + target.byteSize());
        }
        return Ggml.ggml_quantize_chunk(type.id(), source, target, 0, rows, rowLength, MemorySegment.NULL);
    }
}
