package dev.panllama.ggml;

import dev.panllama.bindings.LoadedLibraries;
import dev.panllama.bindings.NativeLibraries;
import dev.panllama.bindings.ggml.Ggml;
import dev.panllama.bindings.ggml.ggml_backend_dev_props;
import dev.panllama.bindings.ggml.ggml_backend_dev_get_extra_bufts_t;
import dev.panllama.bindings.ggml.ggml_backend_feature;
import dev.panllama.bindings.ggml.ggml_backend_get_features_t;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A device that a loaded ggml backend offers (the CPU, a CUDA GPU, ...). Devices live as long as the
 * process: ggml registers them when its libraries load and never frees them.
 */
public final class BackendDevice {

    /** What kind of device ggml says it is ({@code enum ggml_backend_dev_type}). */
    public enum Kind { CPU, GPU, INTEGRATED_GPU, ACCELERATOR, META }

    /** The name of ggml's AMX buffer type. */
    public static final String AMX_BUFFER_TYPE = "AMX";

    private final MemorySegment handle;

    private BackendDevice(MemorySegment handle) {
        this.handle = handle;
    }

    static BackendDevice of(MemorySegment handle) {
        return new BackendDevice(handle);
    }

    /** Every device of every loaded backend, in ggml's order (GPUs before the CPU). */
    public static List<BackendDevice> all() {
        NativeLibraries.load();
        long count = Ggml.ggml_backend_dev_count();
        List<BackendDevice> devices = new ArrayList<>();
        for (long i = 0; i < count; i++) {
            devices.add(new BackendDevice(Ggml.ggml_backend_dev_get(i)));
        }
        return devices;
    }

    /** The CPU device, which every build has. */
    public static BackendDevice cpu() {
        return all().stream().filter(d -> d.kind() == Kind.CPU).findFirst()
                .orElseThrow(() -> new IllegalStateException("the ggml libraries loaded without a CPU backend"));
    }

    /**
     * The device panllama computes on by default: the first GPU of this machine where one is present,
     * else the CPU. Never an RPC server's device, which a process uses only where asked to (--rpc).
     */
    public static BackendDevice preferred() {
        Optional<BackendDevice> gpu = all().stream().filter(d -> d.kind() == Kind.GPU && !d.isRpc()).findFirst();
        return gpu.orElseGet(BackendDevice::cpu);
    }

    /**
     * The devices to offload to, as llama.cpp's {@code --device} picks them: {@code auto} for the devices
     * of {@code rpcServers} (this model's {@code --rpc}), then every local GPU (as llama.cpp orders them:
     * the network is the slowest link, so the first layers go there); {@code cpu} or {@code none} for
     * none; or a comma-separated list of device names such as {@code CUDA0,RPC0} (any case). The CPU is
     * not one of them: it is always used. RPC servers another model of the process connected stay
     * registered with ggml, but {@code auto} never picks them.
     *
     * @throws IllegalArgumentException naming the devices there are
     */
    public static List<BackendDevice> offloadTargets(String spec, List<BackendDevice> rpcServers) {
        String trimmed = spec.trim();
        if (trimmed.equalsIgnoreCase("auto")) {
            List<BackendDevice> ordered = new ArrayList<>(rpcServers);
            all().stream().filter(d -> d.kind() == Kind.GPU && !d.isRpc()).forEach(ordered::add);
            return ordered;
        }
        if (trimmed.equalsIgnoreCase("cpu") || trimmed.equalsIgnoreCase("none")) {
            return List.of();
        }
        List<BackendDevice> chosen = new ArrayList<>();
        for (String name : trimmed.split(",")) {
            BackendDevice device = named(name.trim());
            if (device.kind() == Kind.CPU) {
                throw new IllegalArgumentException("--device " + spec + ": the CPU is always used; name it alone (cpu) or not at all");
            }
            if (!chosen.contains(device)) {
                chosen.add(device);
            }
        }
        return chosen;
    }

    /**
     * The device named {@code name}: {@code auto} for {@link #preferred()}, {@code cpu}, or a device's
     * name such as {@code CUDA0} (any case).
     *
     * @throws IllegalArgumentException naming the devices there are
     */
    public static BackendDevice named(String name) {
        if (name.equalsIgnoreCase("auto")) {
            return preferred();
        }
        List<BackendDevice> devices = all();
        return devices.stream().filter(d -> d.name().equalsIgnoreCase(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no device '" + name + "'; there are: auto, "
                        + String.join(", ", devices.stream().map(BackendDevice::name).toList())));
    }

    MemorySegment handle() {
        return handle;
    }

    /** ggml's short name, e.g. {@code CPU} or {@code CUDA0}. */
    public String name() {
        return Ggml.ggml_backend_dev_name(handle).reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** The hardware, e.g. the CPU model or the GPU's product name. */
    public String description() {
        return Ggml.ggml_backend_dev_description(handle).reinterpret(Long.MAX_VALUE).getString(0);
    }

    public Kind kind() {
        return Kind.values()[Ggml.ggml_backend_dev_type(handle)];
    }

    /** Whether ggml's RPC backend offers this device (another process's device, over the network). */
    public boolean isRpc() {
        return backendName().equals("RPC");
    }

    /** Free memory in bytes, as the backend reports it now (for an RPC device, as its server does). */
    public long memoryFree() {
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment free = scratch.allocate(ValueLayout.JAVA_LONG);
            MemorySegment total = scratch.allocate(ValueLayout.JAVA_LONG);
            Ggml.ggml_backend_dev_memory(handle, free, total);
            return free.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    /** Total memory in bytes, as the backend reports it (host RAM for the CPU). */
    public long memoryTotal() {
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment props = ggml_backend_dev_props.allocate(scratch);
            Ggml.ggml_backend_dev_get_props(handle, props);
            return ggml_backend_dev_props.memory_total(props);
        }
    }

    /** The name of the backend that offers this device, e.g. {@code CPU} or {@code CUDA}. */
    public String backendName() {
        return Ggml.ggml_backend_reg_name(registry()).reinterpret(Long.MAX_VALUE).getString(0);
    }

    /**
     * The features the backend was built with and found, e.g. {@code AVX2 = 1} for the CPU; empty when
     * the backend reports none.
     */
    public Map<String, String> features() {
        Map<String, String> features = new LinkedHashMap<>();
        MemorySegment function = procAddress("ggml_backend_get_features");
        if (function.equals(MemorySegment.NULL)) {
            return features;
        }
        MemorySegment array = ggml_backend_get_features_t.invoke(function, registry());
        long stride = ggml_backend_feature.sizeof();
        for (long i = 0; ; i++) {
            MemorySegment feature = array.reinterpret((i + 1) * stride).asSlice(i * stride, stride);
            MemorySegment name = ggml_backend_feature.name(feature);
            if (name.equals(MemorySegment.NULL)) {
                return features;
            }
            features.put(name.reinterpret(Long.MAX_VALUE).getString(0),
                    ggml_backend_feature.value(feature).reinterpret(Long.MAX_VALUE).getString(0));
        }
    }

    /** The device's plain memory. */
    public BufferType bufferType() {
        return new BufferType(Ggml.ggml_backend_dev_buffer_type(handle));
    }

    /**
     * Host memory the device reads fast (CUDA's pinned memory), where it has such a type. llama.cpp
     * prefers it over the CPU's repacking types for weights kept on the host, so that large batches
     * can copy them to the device.
     */
    public Optional<BufferType> hostBufferType() {
        MemorySegment type = Ggml.ggml_backend_dev_host_buffer_type(handle);
        return type.equals(MemorySegment.NULL) ? Optional.empty() : Optional.of(new BufferType(type));
    }

    /**
     * The device's extra buffer types, best first (for the CPU: CPU_REPACK where the CPU has the
     * instructions its kernels need); empty when it has none.
     */
    public List<BufferType> extraBufferTypes() {
        List<BufferType> types = new ArrayList<>();
        MemorySegment function = procAddress("ggml_backend_dev_get_extra_bufts");
        if (function.equals(MemorySegment.NULL)) {
            return types;
        }
        MemorySegment array = ggml_backend_dev_get_extra_bufts_t.invoke(function, handle).reinterpret(Long.MAX_VALUE);
        for (long i = 0; ; i++) {
            MemorySegment type = array.getAtIndex(java.lang.foreign.ValueLayout.ADDRESS, i);
            if (type.equals(MemorySegment.NULL)) {
                return types;
            }
            types.add(new BufferType(type));
        }
    }

    /**
     * The extra buffer types panllama stores weights in: all of {@link #extraBufferTypes()}, but ggml's
     * {@code AMX} one only from libraries built with panllama's fix of its kernels, which crash at this
     * pin otherwise (see {@link LoadedLibraries#amxKernelsFixed()}).
     */
    public List<BufferType> usableExtraBufferTypes() {
        boolean amxUsable = NativeLibraries.load().amxKernelsFixed();
        return extraBufferTypes().stream().filter(type -> amxUsable || !type.name().equals(AMX_BUFFER_TYPE)).toList();
    }

    MemorySegment registry() {
        return Ggml.ggml_backend_dev_backend_reg(handle);
    }

    /** A function the backend exports by name, or NULL when it has none of that name. */
    MemorySegment procAddress(String function) {
        try (Arena scratch = Arena.ofConfined()) {
            return Ggml.ggml_backend_reg_get_proc_address(registry(), scratch.allocateFrom(function));
        }
    }

    /** The same ggml device, however many wrappers name it. */
    @Override
    public boolean equals(Object other) {
        return other instanceof BackendDevice device && device.handle.equals(handle);
    }

    @Override
    public int hashCode() {
        return handle.hashCode();
    }

    @Override
    public String toString() {
        return name() + " (" + description() + ")";
    }
}
