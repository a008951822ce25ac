package dev.panllama.placement;

import dev.panllama.ggml.BackendDevice;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How the {@link Planner} sizes what goes to the devices, with llama.cpp's options and their meaning:
 *
 * @param enabled      {@code --fit on|off}: plan the placement when a device is used and the user set
 *                     none of {@code -ngl}, {@code --cpu-moe}, {@code --n-cpu-moe} (on by default)
 * @param marginBytes  {@code --fit-target MiB}: memory left free on each device (default 1024 MiB)
 * @param deviceMemory {@code --device-memory NAME=SIZE}: what a device may take instead of its free memory
 *                     less the margin, by device or buffer type name (any case): room for other programs,
 *                     or a plan for a smaller card than the one present
 * @param kvDeviceMemory {@code --kv-device-memory SIZE|auto|all}: the most the KV cache takes on the devices,
 *                     all together; a layer on a device keeps as many of its first cells there as this
 *                     allows every such layer, and the rest in host memory, which takes memory only as
 *                     tokens fill it. {@link #KV_AUTO} (the default): the planner gives the cache what the
 *                     devices have left once it has placed the weights with room for
 *                     {@code minDeviceContext} tokens ({@link Planner}); {@link #KV_ALL}: no limit, every
 *                     cell of a layer on a device there, as llama.cpp keeps them.
 * @param minDeviceContext {@code -fitc/--fit-ctx N}: the tokens of context the devices keep room for in every
 *                     layer they run while the planner puts weights on them, when it sizes the KV cache's share
 *                     ({@link #KV_AUTO}); llama.cpp's option of that name is the context its {@code --fit}
 *                     may shrink the context to, and its default too
 */
public record FitOptions(boolean enabled, long marginBytes, Map<String, Long> deviceMemory, long kvDeviceMemory,
                         int minDeviceContext) {

    public static final long DEFAULT_MARGIN = 1024L << 20;

    /** {@code --kv-device-memory auto}: the planner sizes the KV cache's share of the devices. */
    public static final long KV_AUTO = -1;

    /** {@code --kv-device-memory all}: every cell of a layer on a device in that device's memory. */
    public static final long KV_ALL = Long.MAX_VALUE;

    /** llama.cpp's {@code --fit-ctx} default. */
    public static final int DEFAULT_MIN_DEVICE_CONTEXT = 4096;

    public FitOptions {
        if (marginBytes < 0) {
            throw new IllegalArgumentException("--fit-target must be 0 or more MiB");
        }
        if (kvDeviceMemory < 0 && kvDeviceMemory != KV_AUTO) {
            throw new IllegalArgumentException("--kv-device-memory must be a size, auto or all");
        }
        if (minDeviceContext < 1) {
            throw new IllegalArgumentException("--fit-ctx must be at least 1 token, not " + minDeviceContext);
        }
        deviceMemory = Map.copyOf(deviceMemory);
        deviceMemory.forEach((name, bytes) -> {
            if (bytes <= 0) {
                throw new IllegalArgumentException("--device-memory " + name + " must be a positive size");
            }
        });
    }

    /** With the KV cache's share of the devices planned ({@link #KV_AUTO}). */
    public FitOptions(boolean enabled, long marginBytes, Map<String, Long> deviceMemory) {
        this(enabled, marginBytes, deviceMemory, KV_AUTO, DEFAULT_MIN_DEVICE_CONTEXT);
    }

    public static FitOptions defaults() {
        return new FitOptions(true, DEFAULT_MARGIN, Map.of());
    }

    public FitOptions withEnabled(boolean value) {
        return new FitOptions(value, marginBytes, deviceMemory, kvDeviceMemory, minDeviceContext);
    }

    public FitOptions withMarginBytes(long value) {
        return new FitOptions(enabled, value, deviceMemory, kvDeviceMemory, minDeviceContext);
    }

    public FitOptions withDeviceMemory(Map<String, Long> value) {
        return new FitOptions(enabled, marginBytes, value, kvDeviceMemory, minDeviceContext);
    }

    public FitOptions withKvDeviceMemory(long value) {
        return new FitOptions(enabled, marginBytes, deviceMemory, value, minDeviceContext);
    }

    public FitOptions withMinDeviceContext(int value) {
        return new FitOptions(enabled, marginBytes, deviceMemory, kvDeviceMemory, value);
    }

    /**
     * {@code --kv-device-memory}'s value: a size as {@link #parseSize} reads it, {@code auto} ({@link #KV_AUTO})
     * or {@code all} ({@link #KV_ALL}).
     */
    public static long parseKvDeviceMemory(String text) {
        String value = text.trim().toLowerCase(Locale.ROOT);
        if (value.equals("auto")) {
            return KV_AUTO;
        }
        if (value.equals("all")) {
            return KV_ALL;
        }
        long bytes = parseSize(value, "--kv-device-memory (a size, auto or all)");
        if (bytes <= 0) {
            throw new IllegalArgumentException("--kv-device-memory must be a positive size, auto or all, not " + text);
        }
        return bytes;
    }

    /**
     * Each device's budget: its {@code --device-memory} if given (at most its free memory), else its free
     * memory less the margin (none when only checking a placement the user gave, {@code withMargin} false).
     *
     * @throws IllegalArgumentException when {@code --device-memory} names a device not among {@code devices}
     */
    public List<Planner.Budget> budgets(List<BackendDevice> devices, boolean withMargin) {
        Map<String, Long> unclaimed = new LinkedHashMap<>(deviceMemory);
        List<Planner.Budget> budgets = new ArrayList<>();
        for (BackendDevice device : devices) {
            long free = device.memoryFree();
            Long given = take(unclaimed, device.name());
            if (given == null) {
                given = take(unclaimed, device.bufferType().name());
            }
            if (given != null) {
                budgets.add(new Planner.Budget(device.name(), device.bufferType().name(), Math.min(given, free), given <= free ? "--device-memory"
                        : "--device-memory, but only " + Plan.mib(free) + " free"));
            } else if (withMargin) {
                budgets.add(new Planner.Budget(device.name(), device.bufferType().name(), Math.max(free - marginBytes, 0),
                        Plan.mib(free) + " free less the " + Plan.mib(marginBytes) + " --fit-target"));
            } else {
                budgets.add(new Planner.Budget(device.name(), device.bufferType().name(), free, "free"));
            }
        }
        if (!unclaimed.isEmpty()) {
            throw new IllegalArgumentException("--device-memory names " + String.join(", ", unclaimed.keySet())
                    + ", which this model does not use; it uses: " + String.join(", ", devices.stream().map(BackendDevice::name).toList()));
        }
        return budgets;
    }

    private static Long take(Map<String, Long> sizes, String name) {
        for (String key : List.copyOf(sizes.keySet())) {
            if (key.equalsIgnoreCase(name)) {
                return sizes.remove(key);
            }
        }
        return null;
    }

    /**
     * {@code NAME=SIZE[,NAME=SIZE...]}, sizes in bytes or with a unit: K, M, G, T (powers of 1024, with
     * or without "iB"/"B"), e.g. {@code CUDA0=20GiB}.
     */
    public static Map<String, Long> parseDeviceMemory(String text) {
        Map<String, Long> sizes = new LinkedHashMap<>();
        for (String one : text.split(",")) {
            int equals = one.lastIndexOf('=');
            if (equals <= 0 || equals == one.length() - 1) {
                throw new IllegalArgumentException("--device-memory takes NAME=SIZE (e.g. CUDA0=20GiB), not '" + one + "'");
            }
            sizes.put(one.substring(0, equals).trim(), parseSize(one.substring(equals + 1).trim(), "--device-memory " + one));
        }
        return sizes;
    }

    /** A size in bytes or with a unit as {@link #parseDeviceMemory} takes it, for the option {@code what}. */
    public static long parseSize(String text, String what) {
        var m = java.util.regex.Pattern.compile("(?i)(\\d+(?:\\.\\d+)?)\\s*([KMGT]?)(?:i?B)?").matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException(what + ": '" + text + "' is not a size such as 512MiB or 20GiB");
        }
        int shift = switch (m.group(2).toUpperCase(Locale.ROOT)) {
            case "K" -> 10;
            case "M" -> 20;
            case "G" -> 30;
            case "T" -> 40;
            default -> 0;
        };
        return (long) (Double.parseDouble(m.group(1)) * (1L << shift));
    }
}
