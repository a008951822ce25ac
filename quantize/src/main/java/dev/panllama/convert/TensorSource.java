package dev.panllama.convert;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Where the rows of one GGUF tensor come from, read as F32: a checkpoint tensor's rows as they are,
 * reordered, or its matrices transposed (a GGUF row is then a column of the Hugging Face matrix).
 * Rows are read a slab at a time, so a conversion never holds a whole tensor.
 */
@FunctionalInterface
interface TensorSource {

    /** Writes rows {@code firstRow .. firstRow + count} ({@code rowLength} floats each) to {@code target}. */
    void read(long firstRow, long count, long rowLength, MemorySegment target);

    /** The tensor's rows in order: its last dimension is the GGUF row. */
    static TensorSource rows(SafetensorsFile.Tensor tensor) {
        return (firstRow, count, rowLength, target) -> copyRows(tensor, firstRow * rowLength, count * rowLength, target, 0);
    }

    /**
     * The rows of a Q or K projection reordered from Hugging Face's rotate-half RoPE layout to the
     * interleaved pairs ggml's normal RoPE rotates: within each head, row {@code 2i + j} is the source's
     * row {@code j * half + i}.
     */
    static TensorSource ropeInterleaved(SafetensorsFile.Tensor tensor, int heads) {
        long rowsPerHead = tensor.shape()[0] / heads;
        long half = rowsPerHead / 2;
        return (firstRow, count, rowLength, target) -> {
            for (long r = 0; r < count; r++) {
                long row = firstRow + r;
                long within = row % rowsPerHead;
                long source = row - within + (within % 2) * half + within / 2;
                copyRows(tensor, source * rowLength, rowLength, target, r * rowLength);
            }
        };
    }

    /**
     * Columns {@code firstColumn .. firstColumn + columns} of each matrix of a {@code [matrices, R, C]}
     * (or {@code [R, C]}) tensor, as rows of length R: matrix by matrix, {@code columns} rows each.
     */
    static TensorSource transposedColumns(SafetensorsFile.Tensor tensor, long firstColumn, long columns) {
        long[] shape = tensor.shape();
        long sourceRows = shape[shape.length - 2];
        long sourceColumns = shape[shape.length - 1];
        return (firstRow, count, rowLength, target) -> {
            long row = firstRow;
            long end = firstRow + count;
            while (row < end) {
                long matrix = row / columns;
                long column = row % columns;
                long run = Math.min(end - row, columns - column);
                long base = matrix * sourceRows * sourceColumns + firstColumn + column;
                long into = (row - firstRow) * rowLength;
                // Source rows outer, so each read is a contiguous run of one source row.
                for (long k = 0; k < sourceRows; k++) {
                    long from = base + k * sourceColumns;
                    for (long c = 0; c < run; c++) {
                        target.setAtIndex(ValueLayout.JAVA_FLOAT, into + c * rowLength + k, tensor.get(from + c));
                    }
                }
                row += run;
            }
        };
    }

    /** Values made by the converter itself (RoPE frequency factors). */
    static TensorSource values(float[] values) {
        return (firstRow, count, rowLength, target) -> MemorySegment.copy(values, (int) (firstRow * rowLength),
                target, ValueLayout.JAVA_FLOAT, 0, (int) (count * rowLength));
    }

    private static void copyRows(SafetensorsFile.Tensor tensor, long firstElement, long elements, MemorySegment target, long into) {
        if (tensor.dtype() == SafetensorsFile.Dtype.F32) {
            MemorySegment.copy(tensor.data(), firstElement * Float.BYTES, target, into * Float.BYTES, elements * Float.BYTES);
            return;
        }
        for (long i = 0; i < elements; i++) {
            target.setAtIndex(ValueLayout.JAVA_FLOAT, into + i, tensor.get(firstElement + i));
        }
    }
}
