package dev.panllama.convert;

/**
 * One tensor of the GGUF a conversion writes: its GGUF name, its shape innermost first (GGUF's order,
 * the reverse of PyTorch's) and where its rows come from.
 */
record PlannedTensor(String name, long[] shape, TensorSource source) {

    long rowLength() {
        return shape[0];
    }

    long rows() {
        long rows = 1;
        for (int i = 1; i < shape.length; i++) {
            rows *= shape[i];
        }
        return rows;
    }
}
