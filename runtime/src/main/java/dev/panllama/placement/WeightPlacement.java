package dev.panllama.placement;

import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.BufferType;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.WeightSpec;

import java.util.List;
import java.util.Optional;

/**
 * Where each weight's data lives. Today a model computes on one device: on the CPU a weight stays in
 * the memory-mapped file, or, where one of the CPU's repacking buffer types can hold it (matrices in
 * types such as Q4_0 and Q4_K, multiplied by activations), is copied into it converted for faster
 * kernels, as llama.cpp does; on a GPU every weight is copied into the card's memory. Splitting a model
 * between devices by {@link dev.panllama.model.TensorRole} is this class's to grow.
 */
public final class WeightPlacement {

    private final BackendDevice device;
    private final List<BufferType> repacking;
    private final boolean copyAll;
    private final int expertsUsed;

    /**
     * @param mmap        whether weights that need no conversion may stay in the mapped file
     * @param expertsUsed experts per token, for asking whether a repacking type can run the expert product
     */
    public WeightPlacement(BackendDevice device, boolean mmap, int expertsUsed) {
        this.device = device;
        // Repacking is the CPU's; a GPU takes every weight into its own memory.
        boolean cpu = device.kind() == BackendDevice.Kind.CPU;
        this.repacking = cpu ? device.usableExtraBufferTypes() : List.of();
        this.copyAll = !cpu || !mmap;
        this.expertsUsed = expertsUsed;
    }

    public BackendDevice device() {
        return device;
    }

    /** The buffer type a weight of {@code type} so declared is copied into, or empty when it stays in the mapped file. */
    public Optional<BufferType> bufferFor(WeightSpec spec, GgmlType type, long[] shape) {
        BufferType repackInto = repackingFor(spec.use(), type, shape);
        if (repackInto == null && copyAll) {
            repackInto = device.bufferType();
        }
        return Optional.ofNullable(repackInto);
    }

    /** The first repacking buffer type that can hold a weight so used, or null. */
    private BufferType repackingFor(WeightSpec.Use use, GgmlType type, long[] shape) {
        if (use != WeightSpec.Use.MUL_MAT && use != WeightSpec.Use.MUL_MAT_ID) {
            return null;
        }
        for (BufferType candidate : repacking) {
            try (GgmlContext probe = GgmlContext.create(8)) {
                Tensor weight = probe.newTensor(type, shape);
                Tensor op = use == WeightSpec.Use.MUL_MAT
                        ? probe.mulMat(weight, probe.newTensor(GgmlType.F32, shape[0], 512, weight.ne(2), weight.ne(3)))
                        : probe.mulMatId(weight, probe.newTensor(GgmlType.F32, shape[0], expertsUsed, 512),
                                probe.newTensor(GgmlType.I32, expertsUsed, 512));
                if (candidate.supportsWeight(device, weight, op)) {
                    return candidate;
                }
            }
        }
        return null;
    }
}
