package dev.panllama.placement;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.IntFunction;
import java.util.regex.Pattern;

/**
 * Decides how much of a model goes to the devices so that each stays within its budget, as llama.cpp's
 * {@code --fit} does, keyed on tensor roles: first the layers without their routed experts (attention,
 * norms, router, shared expert, their KV cache, then the output layer), counted from the last as
 * {@code -ngl} counts them, then the routed experts, one tensor at a time from the last layer back, as
 * {@code --n-cpu-moe} counts them. Every step up that ladder puts more on the devices, so the planner
 * measures ({@link Trial}) only the steps a binary search visits and takes the last that fits.
 *
 * <p>So a routed expert is on a device only when every other weight of the offloaded layers is, and the
 * plan is always one llama.cpp can be given too: {@code -ngl}, {@code --n-cpu-moe} and at most three
 * {@code -ot} patterns for a layer whose experts are split, after the user's own {@code -ot} patterns,
 * which come first and stay as given. The token embedding stays in host memory, as llama.cpp keeps it:
 * a batch reads one row of it per token.
 *
 * <p>Several devices share the layers in proportion to their budgets ({@code -ts} of the budgets, unless
 * the user gave one), not to their free memory: a budget says how much of a device the model may have,
 * and each step then fills the devices alike, so that none is full while another has room.
 */
public final class Planner {

    /**
     * How much a device may take, and where that figure comes from (said in the printed plan).
     *
     * @param device the device's name, as {@link MemoryNeeds} names it
     * @param buffer its buffer type's name, as weights placed there report it
     */
    public record Budget(String device, String buffer, long bytes, String source) {
    }

    /** A placement measured: its options, what it needs where, and where each weight would live. */
    public record Trial(Offload offload, MemoryNeeds needs, Map<String, String> bufferOfWeight) {
    }

    private final List<Budget> budgets;
    private final int layers;
    private final List<List<String>> routedExpertsByLayer;
    private final IntFunction<String> layerBuffer;
    private final Function<Offload, Trial> measure;

    /**
     * @param budgets              one per device offloaded to
     * @param layers               the model's layer count
     * @param routedExpertsByLayer the names of each layer's routed expert tensors (empty for a dense layer),
     *                             in the order a split layer moves them to its device
     * @param layerBuffer          the buffer type, by name, of the device layer {@code i} goes to
     * @param measure              measures a placement ({@code dev.panllama.eval.MemoryMeasure} over a model placed without memory)
     */
    public Planner(List<Budget> budgets, int layers, List<List<String>> routedExpertsByLayer, IntFunction<String> layerBuffer,
                   Function<Offload, Trial> measure) {
        this.budgets = List.copyOf(budgets);
        this.layers = layers;
        this.routedExpertsByLayer = List.copyOf(routedExpertsByLayer);
        this.layerBuffer = layerBuffer;
        this.measure = measure;
    }

    /**
     * The fullest placement that fits every budget, starting from {@code given} (whose {@code -ot}
     * patterns are kept, first).
     *
     * @throws PlacementException when not even the layers' compute fits a device with nothing on it
     */
    public Plan fit(Offload given) {
        List<Offload> ladder = ladder(given);
        Trial first = measure.apply(ladder.getFirst());
        if (!fits(first)) {
            throw new PlacementException("no placement fits: " + overBudget(first) + "; give the device more room (--device-memory, "
                    + "--fit-target) or compute on the CPU (--device cpu)");
        }
        int low = 0;                      // fits
        int high = ladder.size();         // first step known not to fit (or past the end)
        Trial best = first;
        while (high - low > 1) {
            int middle = (low + high) >>> 1;
            Trial trial = measure.apply(ladder.get(middle));
            if (fits(trial)) {
                low = middle;
                best = trial;
            } else {
                high = middle;
            }
        }
        return new Plan(best, budgets, true);
    }

    /**
     * The placement {@code given} says, measured and checked against the budgets, so that one that does
     * not fit is refused with what it needs instead of failing inside ggml.
     *
     * @throws PlacementException when a device would need more than its budget
     */
    public Plan check(Offload given) {
        Trial trial = measure.apply(given);
        if (!fits(trial)) {
            throw new PlacementException("the placement does not fit: " + overBudget(trial)
                    + "; offload fewer layers (-ngl), keep experts on the CPU (--n-cpu-moe, --cpu-moe), or let --fit plan it");
        }
        return new Plan(trial, budgets, false);
    }

    /**
     * How the offloaded layers are shared between the devices: as {@code given} says ({@code -ts}), else
     * with several devices in proportion to their budgets, else (one device) not at all.
     */
    public static List<Double> layerShares(Offload given, List<Budget> budgets) {
        if (!given.tensorSplit().isEmpty() || budgets.size() < 2) {
            return given.tensorSplit();
        }
        // In whole MiB: small integers, exact as llama.cpp's float proportions too, so that its -ts splits alike.
        return budgets.stream().map(b -> (double) Math.max(1, b.bytes() >> 20)).toList();
    }

    /** The steps, each putting more on the devices than the one before. */
    List<Offload> ladder(Offload given) {
        List<Offload> steps = new ArrayList<>();
        List<Double> shares = layerShares(given, budgets);
        // Layers without their routed experts, from none to all and the output layer. With several
        // devices, only counts that put the output layer on the last device: in the others it lands on
        // an earlier one, which then also needs the logits' compute while the last one stays empty.
        for (int gpuLayers = 0; gpuLayers <= layers + 1; gpuLayers++) {
            if (gpuLayers == 0 || outputOnLastDevice(gpuLayers, shares)) {
                steps.add(new Offload(gpuLayers, given.overrides(), true, 0, shares));
            }
        }
        // Then routed experts, one tensor at a time from the last layer back.
        for (int firstOnDevice = layers - 1; firstOnDevice >= 0; firstOnDevice--) {
            List<String> tensors = routedExpertsByLayer.get(firstOnDevice);
            for (int moved = 1; moved <= tensors.size(); moved++) {
                List<Offload.TensorOverride> overrides = new ArrayList<>(given.overrides());
                int cpuMoeLayers = firstOnDevice + 1;
                if (moved == tensors.size()) {
                    cpuMoeLayers = firstOnDevice;
                } else {
                    // Escaped as both Java's and llama.cpp's (ECMAScript) regular expressions read it.
                    for (String tensor : tensors.subList(0, moved)) {
                        overrides.add(new Offload.TensorOverride(Pattern.compile("^" + tensor.replace(".", "\\.") + "$"),
                                layerBuffer.apply(firstOnDevice)));
                    }
                }
                steps.add(new Offload(Offload.ALL_LAYERS, overrides, false, cpuMoeLayers, shares));
            }
        }
        return steps;
    }

    /**
     * Whether with {@code gpuLayers} offloaded the output layer (the last of them) goes to the last
     * device, as {@code WeightPlacement} shares layers by {@code shares}.
     */
    private static boolean outputOnLastDevice(int gpuLayers, List<Double> shares) {
        if (shares.size() < 2) {
            return true;
        }
        return WeightPlacement.shareOf(WeightPlacement.cumulativeShares(shares), (gpuLayers - 1) / (double) gpuLayers) == shares.size() - 1;
    }

    private boolean fits(Trial trial) {
        return budgets.stream().allMatch(b -> trial.needs().of(b.device()).total() <= b.bytes());
    }

    private String overBudget(Trial trial) {
        List<String> over = new ArrayList<>();
        for (Budget budget : budgets) {
            MemoryNeeds.Where needs = trial.needs().of(budget.device());
            if (needs.total() > budget.bytes()) {
                over.add(String.format("%s needs %s (weights %s, KV cache %s, compute %s) but has %s (%s)", budget.device(),
                        Plan.mib(needs.total()), Plan.mib(needs.weights()), Plan.mib(needs.kv()), Plan.mib(needs.compute()),
                        Plan.mib(budget.bytes()), budget.source()));
            }
        }
        return String.join("; ", over);
    }
}
