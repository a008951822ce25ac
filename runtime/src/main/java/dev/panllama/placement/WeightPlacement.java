package dev.panllama.placement;

import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.BufferType;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.TensorRole;
import dev.panllama.model.WeightSpec;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Where each weight's data lives, and each layer's KV cache: on the CPU or on one of the devices
 * offloaded to, decided per {@link WeightSpec} by its layer and {@link TensorRole} with llama.cpp's
 * rules and options ({@link Offload}).
 *
 * <p>Layers: the last {@code -ngl} of the layers and the output layer (the output norm and head,
 * counted as one layer past the last) go to the devices, split between several in proportion to their
 * free memory or to {@code -ts}, the first layers to the first device; the rest, and always the token embedding, stay on
 * the CPU. Then {@code -ot} patterns, and {@code --cpu-moe}/{@code --n-cpu-moe} for routed experts, move
 * single weights. A layer's KV cache lives with the layer.
 *
 * <p>On the CPU a weight stays in the memory-mapped file, or, where one of the CPU's repacking buffer
 * types can hold it (matrices in types such as Q4_0 and Q4_K, multiplied by activations), is copied
 * into it converted for faster kernels, as llama.cpp does. Where a device offers fast host memory
 * (CUDA's pinned memory), llama.cpp prefers that to repacking, so that large batches can copy the weights
 * to the device; with the file mapped that means the weight stays mapped, and so it does here.
 */
public final class WeightPlacement {

    private final BackendDevice cpu;
    private final List<BackendDevice> devices;
    private final Offload offload;
    private final int layers;
    private final int firstOffloaded;
    private final double[] splits;
    private final List<BufferType> repacking;
    private final Optional<BufferType> deviceHostBuffer;
    private final boolean mmap;
    private final int expertsUsed;
    private final Map<String, BufferType> buffersByName = new LinkedHashMap<>();

    /**
     * @param devices     the devices to offload to, in order; empty to compute on the CPU alone
     * @param mmap        whether weights that need no conversion may stay in the mapped file
     * @param layers      the model's layer count
     * @param expertsUsed experts per token, for asking whether a repacking type can run the expert product
     * @throws IllegalArgumentException when an override names a buffer type there is not
     */
    public WeightPlacement(List<BackendDevice> devices, Offload offload, boolean mmap, int layers, int expertsUsed) {
        this.cpu = BackendDevice.cpu();
        this.devices = List.copyOf(devices);
        this.offload = offload;
        this.layers = layers;
        this.mmap = mmap;
        this.expertsUsed = expertsUsed;
        this.firstOffloaded = this.devices.isEmpty() ? layers + 1 : offload.firstOffloadedLayer(layers);
        this.splits = splitPoints(this.devices, offload.tensorSplit());
        this.repacking = offload.repack() ? cpu.usableExtraBufferTypes() : List.of();
        this.deviceHostBuffer = this.devices.stream().map(BackendDevice::hostBufferType).flatMap(Optional::stream).findFirst();
        buffersByName.put(Offload.TensorOverride.CPU, cpu.bufferType());
        for (BackendDevice device : this.devices) {
            buffersByName.put(device.bufferType().name(), device.bufferType());
        }
        for (Offload.TensorOverride override : offload.overrides()) {
            bufferNamed(override.buffer());
        }
    }

    /** Whether any layer, and so its KV cache, is on a device (the output layer, which has no cache, aside). */
    public boolean hasLayerOnDevice() {
        return firstOffloaded < layers;
    }

    /** The CPU, whose backend computes what no device does and whose memory maps the file. */
    public BackendDevice cpu() {
        return cpu;
    }

    /** The devices offloaded to, in order (empty when all is on the CPU). */
    public List<BackendDevice> devices() {
        return devices;
    }

    /**
     * The device of layer {@code layer} ({@code layers} for the output layer): where its weights go
     * unless overridden, and where its KV cache lives.
     */
    public BackendDevice layerDevice(int layer) {
        if (layer < firstOffloaded || devices.isEmpty()) {
            return cpu;
        }
        return devices.get(shareOf(splits, (layer - firstOffloaded) / (double) (layers + 1 - firstOffloaded)));
    }

    /**
     * The buffer type the weight {@code name}, declared by {@code spec}, of {@code type} and
     * {@code shape}, is copied into, or empty when it stays in the mapped file on the CPU. {@code name}
     * is the file's tensor, which differs from the spec's for an output head tied to the embedding.
     */
    public Optional<BufferType> bufferFor(String name, WeightSpec spec, GgmlType type, long[] shape) {
        for (Offload.TensorOverride override : offload.overrides()) {
            if (override.matches(name)) {
                BufferType target = bufferNamed(override.buffer());
                return target.equals(cpu.bufferType()) ? onCpu(spec, type, shape) : Optional.of(target);
            }
        }
        if (spec.role() == TensorRole.ROUTED_EXPERT && (offload.cpuMoe() || spec.layer() < offload.cpuMoeLayers())) {
            return onCpu(spec, type, shape);
        }
        BackendDevice device = layerDevice(layerOf(spec));
        if (device.equals(cpu)) {
            return onCpu(spec, type, shape);
        }
        BufferType deviceBuffer = device.bufferType();
        return supports(device, deviceBuffer, spec.use(), type, shape) ? Optional.of(deviceBuffer) : onCpu(spec, type, shape);
    }

    /** The layer whose device a weight follows: the embedding is the input layer, on the CPU; model-wide output weights the output layer. */
    private int layerOf(WeightSpec spec) {
        if (spec.layer() >= 0) {
            return spec.layer();
        }
        return switch (spec.role()) {
            case EMBEDDING -> -1;
            case ROPE_FACTORS -> 0;   // llama.cpp declares them with layer 0 and shares them
            default -> layers;        // the output norm and head
        };
    }

    /** A weight kept on the CPU: a device's fast host memory, a repacking type, the mapped file or plain memory, in llama.cpp's order. */
    private Optional<BufferType> onCpu(WeightSpec spec, GgmlType type, long[] shape) {
        if (deviceHostBuffer.isPresent()) {
            return mmap ? Optional.empty() : deviceHostBuffer;
        }
        for (BufferType candidate : repacking) {
            if (supports(cpu, candidate, spec.use(), type, shape)) {
                return Optional.of(candidate);
            }
        }
        return mmap ? Optional.empty() : Optional.of(cpu.bufferType());
    }

    /** Whether {@code device} can run the op a weight so used takes part in, with the weight in {@code buffer}. */
    private boolean supports(BackendDevice device, BufferType buffer, WeightSpec.Use use, GgmlType type, long[] shape) {
        if (use != WeightSpec.Use.MUL_MAT && use != WeightSpec.Use.MUL_MAT_ID) {
            // Repacking types hold only matrices; a device's own memory holds anything.
            return !repacking.contains(buffer);
        }
        try (GgmlContext probe = GgmlContext.create(8)) {
            Tensor weight = probe.newTensor(type, shape);
            Tensor op = use == WeightSpec.Use.MUL_MAT
                    ? probe.mulMat(weight, probe.newTensor(GgmlType.F32, shape[0], 512, weight.ne(2), weight.ne(3)))
                    : probe.mulMatId(weight, probe.newTensor(GgmlType.F32, shape[0], expertsUsed, 512),
                            probe.newTensor(GgmlType.I32, expertsUsed, 512));
            return buffer.supportsWeight(device, weight, op);
        }
    }

    /** The buffer type an override names: as ggml names buffer types, or by its device's name. */
    private BufferType bufferNamed(String name) {
        BufferType known = buffersByName.get(name);
        if (known != null) {
            return known;
        }
        for (BackendDevice device : devices) {
            if (device.name().equalsIgnoreCase(name)) {
                return device.bufferType();
            }
        }
        List<String> names = new ArrayList<>(buffersByName.keySet());
        throw new IllegalArgumentException("--override-tensor: no buffer type '" + name + "' among the devices used; there are: "
                + String.join(", ", names));
    }

    /**
     * Cumulative shares of {@code tensorSplit}, or when it is empty of the free memory of {@code devices},
     * as llama.cpp splits layers between them.
     */
    private static double[] splitPoints(List<BackendDevice> devices, List<Double> tensorSplit) {
        if (!tensorSplit.isEmpty() && tensorSplit.size() != devices.size()) {
            throw new IllegalArgumentException("--tensor-split gives " + tensorSplit.size() + " proportions for "
                    + devices.size() + " devices (" + devices.stream().map(BackendDevice::name).toList() + ")");
        }
        if (!tensorSplit.isEmpty()) {
            return cumulativeShares(tensorSplit);
        }
        return cumulativeShares(devices.stream().map(d -> devices.size() == 1 ? 1.0 : (double) Math.max(d.memoryFree(), 0)).toList());
    }

    /** Where each of several shares ends, from 0 to 1 (equal shares when they are all 0). */
    static double[] cumulativeShares(List<Double> shares) {
        double[] points = new double[shares.size()];
        double sum = 0;
        for (int i = 0; i < points.length; i++) {
            sum += shares.get(i);
            points[i] = sum;
        }
        for (int i = 0; i < points.length; i++) {
            points[i] = sum == 0 ? (i + 1) / (double) points.length : points[i] / sum;
        }
        return points;
    }

    /**
     * The share that the offloaded layer at {@code at} (its index among them over their count, the
     * output layer's {@code (n - 1) / n}) falls in, of those ending at {@code points}: llama.cpp's
     * {@code upper_bound} over its splits.
     */
    static int shareOf(double[] points, double at) {
        for (int i = 0; i < points.length; i++) {
            if (at < points[i]) {
                return i;
            }
        }
        return points.length - 1;
    }
}
