package dev.panllama.gguf;

import dev.panllama.ggml.GgmlType;

import java.util.Arrays;

/**
 * A tensor listed in a GGUF file: name, type, shape (innermost dimension first, as ggml orders it)
 * and where its data lies.
 *
 * @param part   which file of a split model holds the data (0 for a single file)
 * @param offset the data's offset from the start of that file's data section
 */
public record GgufTensorInfo(String name, GgmlType type, long[] shape, int part, long offset) {

    public GgufTensorInfo {
        if (shape.length < 1 || shape.length > 4) {
            throw new IllegalArgumentException("tensor " + name + " has " + shape.length + " dimensions; ggml allows 1 to 4");
        }
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public long dim(int i) {
        return i < shape.length ? shape[i] : 1;
    }

    public int dimensions() {
        return shape.length;
    }

    public long elementCount() {
        long count = 1;
        for (long n : shape) {
            count *= n;
        }
        return count;
    }

    public long byteSize() {
        long elements = elementCount();
        return elements == 0 ? 0 : type.rowBytes(shape[0]) * (elements / shape[0]);
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof GgufTensorInfo that && name.equals(that.name) && type == that.type
                && Arrays.equals(shape, that.shape) && part == that.part && offset == that.offset;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(shape);
    }
}
