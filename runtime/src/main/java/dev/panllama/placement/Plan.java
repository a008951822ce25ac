package dev.panllama.placement;

import dev.panllama.model.ModelWeights;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.stream.Collectors;
import java.util.regex.Pattern;

/**
 * A placement chosen (by {@link Planner#fit}) or checked (by {@link Planner#check}), with what it needs
 * on each device and on the host, and each device's budget. {@link #describe()} is what the command
 * prints at load and {@code info --plan} prints.
 *
 * @param fitted whether the planner chose it; false for one the user's options gave
 */
public record Plan(Planner.Trial trial, List<Planner.Budget> budgets, boolean fitted) {

    private static final Pattern EXPERT = Pattern.compile("^blk\\.(\\d+)\\.ffn_(gate|up|down)_exps\\.weight$");

    public Plan {
        budgets = List.copyOf(budgets);
    }

    public Offload offload() {
        return trial.offload();
    }

    public MemoryNeeds needs() {
        return trial.needs();
    }

    /** The plan in lines: bytes per device and on the host, where each layer's routed experts are, and llama.cpp's flags for it. */
    public List<String> describe() {
        List<String> lines = new ArrayList<>();
        lines.add(fitted ? "placement planned to fit (--fit):" : "placement as given:");
        for (MemoryNeeds.Where where : needs().devices()) {
            String budget = budgets.stream().filter(b -> b.device().equals(where.device())).findFirst()
                    .map(b -> String.format(" of %s (%s)", mib(b.bytes()), b.source())).orElse("");
            lines.add(String.format(Locale.ROOT, "  %-24s weights %10s  KV cache %10s  compute %10s  = %s%s",
                    where.device().equals(MemoryNeeds.HOST) ? "host" : where.device(), mib(where.weights()), mib(where.kv()),
                    mib(where.compute()), mib(where.total()), budget));
        }
        if (needs().mappedBytes() > 0) {
            lines.add(String.format("  %-24s weights %10s  (mapped from the file, paged in by the system)", "host, mapped",
                    mib(needs().mappedBytes())));
        }
        if (trial.kvDeviceBytes() != FitOptions.KV_ALL) {
            lines.add("  KV cache: each layer on a device keeps its first cells there (at most " + mib(trial.kvDeviceBytes())
                    + " together), the rest of the context in host memory as tokens fill it");
        }
        String experts = expertLayers();
        if (!experts.isEmpty()) {
            lines.add("  routed experts: " + experts);
        }
        lines.add("  as llama.cpp options: " + llamaCppOptions());
        return lines;
    }

    /** Where each layer's routed experts are, consecutive layers in one place run together: "layers 0-3 host, 4 split, 5-7 RPC0". */
    public String expertLayers() {
        Map<Integer, List<String>> byLayer = new TreeMap<>();
        for (var entry : trial.bufferOfWeight().entrySet()) {
            Matcher m = EXPERT.matcher(entry.getKey());
            if (m.matches()) {
                String buffer = entry.getValue();
                boolean onDevice = budgets.stream().anyMatch(b -> b.buffer().equals(buffer));
                byLayer.computeIfAbsent(Integer.parseInt(m.group(1)), l -> new ArrayList<>()).add(onDevice ? buffer : "host");
            }
        }
        List<String> runs = new ArrayList<>();
        int runStart = -1;
        int previous = -2;
        String runPlace = null;
        for (var entry : byLayer.entrySet()) {
            List<String> places = entry.getValue();
            String place = places.stream().distinct().count() == 1 ? places.getFirst() : "split";
            if (!place.equals(runPlace) || entry.getKey() != previous + 1) {
                if (runPlace != null) {
                    runs.add(run(runStart, previous, runPlace));
                }
                runStart = entry.getKey();
                runPlace = place;
            }
            previous = entry.getKey();
        }
        if (runPlace != null) {
            runs.add(run(runStart, previous, runPlace));
        }
        return String.join(", ", runs);
    }

    private static String run(int first, int last, String place) {
        return (first == last ? "layer " + first : "layers " + first + "-" + last) + " " + place;
    }

    /** The same placement in llama.cpp's terms, to run llama.cpp split the same way. */
    public String llamaCppOptions() {
        Offload offload = offload();
        List<String> options = new ArrayList<>();
        options.add("-ngl " + (offload.gpuLayers() == Offload.ALL_LAYERS ? "all" : offload.gpuLayers()));
        if (offload.cpuMoe()) {
            options.add("--cpu-moe");
        }
        if (offload.cpuMoeLayers() > 0) {
            options.add("--n-cpu-moe " + offload.cpuMoeLayers());
        }
        if (!offload.tensorSplit().isEmpty()) {
            options.add("-ts " + offload.tensorSplit().stream().map(Plan::proportion).collect(Collectors.joining(",")));
        }
        for (Offload.TensorOverride override : offload.overrides()) {
            options.add("-ot '" + override + "'");
        }
        if (!offload.repack()) {
            options.add("--no-repack");
        }
        return String.join(" ", options);
    }

    /** Whether the weight named {@code weight} (as its model family names it) lives in a device's memory under this plan. */
    public boolean onDevice(String weight) {
        String buffer = trial.bufferOfWeight().get(weight);
        return buffer != null && !buffer.equals(ModelWeights.MAPPED)
                && budgets.stream().anyMatch(b -> b.buffer().equals(buffer));
    }

    /** A -ts proportion as llama.cpp reads it back: whole bytes of a budget print as integers. */
    private static String proportion(double share) {
        return share == Math.rint(share) ? String.valueOf((long) share) : String.valueOf(share);
    }

    static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }
}
