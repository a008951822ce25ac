package dev.panllama.placement;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * What to offload to the devices, with llama.cpp's options and their meaning:
 *
 * @param gpuLayers    {@code -ngl/--n-gpu-layers}: how many of the layers, counted from the last, go to
 *                     the devices, the output layer (output norm and head) counting as one past the
 *                     last; {@link #ALL_LAYERS} (any negative number) for all. The token embedding always
 *                     stays on the CPU.
 * @param overrides    {@code -ot/--override-tensor}: the buffer of every weight whose name a pattern
 *                     finds, the first matching pattern deciding; they come before the two below
 * @param cpuMoe       {@code --cpu-moe}: every layer's routed experts stay on the CPU
 * @param cpuMoeLayers {@code --n-cpu-moe}: the routed experts of layers {@code 0 .. N-1} stay on the CPU
 * @param tensorSplit  {@code -ts/--tensor-split}: the share of the offloaded layers each device takes, in
 *                     the devices' order, as proportions ({@code 3,1}); empty to share them by free memory
 * @param repack       false for {@code -nr/--no-repack}: weights kept on the CPU stay as the file has them
 *                     (mapped, or in plain memory) rather than going to the CPU's extra buffer types,
 *                     whose faster kernels want them rearranged (ggml's CPU_REPACK and AMX)
 */
public record Offload(int gpuLayers, List<TensorOverride> overrides, boolean cpuMoe, int cpuMoeLayers, List<Double> tensorSplit,
                      boolean repack) {

    public static final int ALL_LAYERS = -1;

    public Offload {
        overrides = List.copyOf(overrides);
        tensorSplit = List.copyOf(tensorSplit);
        if (cpuMoeLayers < 0) {
            throw new IllegalArgumentException("--n-cpu-moe must be 0 or more, not " + cpuMoeLayers);
        }
        if (gpuLayers < 0) {
            gpuLayers = ALL_LAYERS;
        }
        if (tensorSplit.stream().anyMatch(share -> !(share >= 0) || share.isInfinite())
                || !tensorSplit.isEmpty() && tensorSplit.stream().mapToDouble(Double::doubleValue).sum() == 0) {
            throw new IllegalArgumentException("--tensor-split takes proportions of 0 or more, not all 0: " + tensorSplit);
        }
    }

    /** As llama.cpp's options without {@code -ts}: layers shared between devices by their free memory. */
    public Offload(int gpuLayers, List<TensorOverride> overrides, boolean cpuMoe, int cpuMoeLayers) {
        this(gpuLayers, overrides, cpuMoe, cpuMoeLayers, List.of(), true);
    }

    /** Everything a device can take goes there (the default, as llama.cpp's). */
    public static Offload all() {
        return new Offload(ALL_LAYERS, List.of(), false, 0);
    }

    public Offload withGpuLayers(int value) {
        return new Offload(value, overrides, cpuMoe, cpuMoeLayers, tensorSplit, repack);
    }

    /** These overrides after the ones already given. */
    public Offload withOverrides(List<TensorOverride> more) {
        List<TensorOverride> all = new ArrayList<>(overrides);
        all.addAll(more);
        return new Offload(gpuLayers, all, cpuMoe, cpuMoeLayers, tensorSplit, repack);
    }

    public Offload withCpuMoe(boolean value) {
        return new Offload(gpuLayers, overrides, value, cpuMoeLayers, tensorSplit, repack);
    }

    public Offload withCpuMoeLayers(int value) {
        return new Offload(gpuLayers, overrides, cpuMoe, value, tensorSplit, repack);
    }

    public Offload withTensorSplit(List<Double> value) {
        return new Offload(gpuLayers, overrides, cpuMoe, cpuMoeLayers, value, repack);
    }

    public Offload withRepack(boolean value) {
        return new Offload(gpuLayers, overrides, cpuMoe, cpuMoeLayers, tensorSplit, value);
    }

    /** {@code -ts} as llama.cpp reads it: proportions separated by commas or slashes ({@code 3,1}). */
    public static List<Double> parseTensorSplit(String text) {
        List<Double> shares = new ArrayList<>();
        for (String part : text.split("[,/]", -1)) {
            try {
                shares.add(Double.parseDouble(part.strip()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--tensor-split takes proportions such as 3,1, not '" + text + "'");
            }
        }
        return shares;
    }

    /** The layers, of {@code layers}, whose weights go to a device by {@link #gpuLayers}: the first of them. */
    int firstOffloadedLayer(int layers) {
        int offloaded = gpuLayers == ALL_LAYERS ? layers + 1 : gpuLayers;
        return Math.max(layers + 1 - offloaded, 0);
    }

    /**
     * {@code -ot PATTERN=BUFFER}: weights whose name {@code pattern} finds (a regular expression, searched
     * as llama.cpp's {@code std::regex_search} does, not matched whole) go to the buffer type named
     * {@code buffer} as ggml names it ({@code CPU}, {@code CUDA0}, {@code RPC0[host:port]}); a device's name
     * stands for its buffer type too.
     */
    public record TensorOverride(Pattern pattern, String buffer) {

        public static final String CPU = "CPU";

        /** One or more {@code PATTERN=BUFFER} separated by commas, as llama.cpp's {@code -ot} takes them. */
        public static List<TensorOverride> parse(String text) {
            List<TensorOverride> parsed = new ArrayList<>();
            for (String one : text.split(",")) {
                int equals = one.indexOf('=');
                if (equals <= 0 || equals == one.length() - 1) {
                    throw new IllegalArgumentException("--override-tensor takes PATTERN=BUFFER[,PATTERN=BUFFER...] (e.g. exps=CPU), not '" + one + "'");
                }
                try {
                    parsed.add(new TensorOverride(Pattern.compile(one.substring(0, equals)), one.substring(equals + 1)));
                } catch (PatternSyntaxException e) {
                    throw new IllegalArgumentException("--override-tensor " + one + ": not a regular expression: " + e.getDescription());
                }
            }
            return parsed;
        }

        boolean matches(String tensorName) {
            return pattern.matcher(tensorName).find();
        }

        @Override
        public String toString() {
            return pattern.pattern() + "=" + buffer;
        }
    }
}
