package dev.panllama.convert;

/**
 * One tensor of the GGUF a conversion writes: its GGUF name, its shape innermost first (GGUF's order,
 * the reverse of PyTorch's), where its rows come from, and the checkpoint tensor they are read from
 * (null for values the converter makes), whose mapped pages are let go once the tensor is written.
 */
record PlannedTensor(String name, long[] shape, TensorSource source, SafetensorsFile.Tensor origin) {

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
