package dev.panllama.placement;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
 *
 * <p>The KV cache ({@link KvDemand}): with {@code --kv-device-memory auto} each step is measured with room
 * on the devices for the first {@code --fit-ctx} tokens of every layer they run, and once the weights are
 * placed the cache takes what the devices have left, up to the whole context; the tokens past that are
 * kept in host memory. So weights come before context, as llama.cpp's {@code --fit} shrinks the context
 * to {@code --fit-ctx} before it moves a layer off a device, but the context is not lost: it continues
 * in host memory.
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

    /**
     * A placement measured: its options, what it needs where, where each weight would live, and the most
     * the KV cache takes on the devices ({@link FitOptions#KV_ALL}: no limit).
     */
    public record Trial(Offload offload, MemoryNeeds needs, Map<String, String> bufferOfWeight, long kvDeviceBytes) {
    }

    /** Measures a placement whose KV cache takes at most {@code kvDeviceBytes} on the devices ({@link FitOptions#KV_ALL}: no limit). */
    public interface Measure {
        Trial of(Offload offload, long kvDeviceBytes);
    }

    /** The bytes the KV cache takes on the devices when every layer {@code offload} puts on one keeps its first {@code tokens} there. */
    public interface KvSizes {
        long deviceBytes(Offload offload, int tokens);
    }

    /**
     * The KV cache a plan makes room for.
     *
     * @param requested      {@code --kv-device-memory}: bytes, {@link FitOptions#KV_ALL} or {@link FitOptions#KV_AUTO}
     * @param contextLength  the context's tokens
     * @param minDeviceTokens with {@code auto}, the tokens every device layer keeps room for while weights are placed ({@code --fit-ctx})
     * @param growInto       with {@code auto}, the budgets the cache then grows into; none: it keeps to its
     *                       {@code minDeviceTokens} (the expert cache's {@code auto} takes what is left)
     * @param sizes          the cache's device bytes for a count of tokens
     */
    public record KvDemand(long requested, int contextLength, int minDeviceTokens, List<Budget> growInto, KvSizes sizes) {
        public KvDemand {
            growInto = List.copyOf(growInto);
        }

        /** A cache whose share of the devices is {@code requested} bytes or {@link FitOptions#KV_ALL}, not planned. */
        public static KvDemand fixed(long requested) {
            if (requested == FitOptions.KV_AUTO) {
                throw new IllegalArgumentException("a fixed KV demand needs bytes or KV_ALL");
            }
            return new KvDemand(requested, 0, 0, List.of(), (offload, tokens) -> 0);
        }

        boolean planned() {
            return requested == FitOptions.KV_AUTO;
        }
    }

    /** The KV cache hands out device cells in blocks of this many (KvCells.CELL_BLOCK): a finer search gains nothing. */
    private static final int KV_BLOCK_TOKENS = 256;

    private final List<Budget> budgets;
    private final int layers;
    private final List<List<String>> routedExpertsByLayer;
    private final IntFunction<String> layerBuffer;
    private final Measure measure;
    private final KvDemand kv;

    /**
     * @param budgets              one per device offloaded to
     * @param layers               the model's layer count
     * @param routedExpertsByLayer the names of each layer's routed expert tensors (empty for a dense layer),
     *                             in the order a split layer moves them to its device
     * @param layerBuffer          the buffer type, by name, of the device layer {@code i} goes to
     * @param measure              measures a placement ({@code dev.panllama.eval.MemoryMeasure} over a model placed without memory)
     * @param kv                   the KV cache to make room for
     */
    public Planner(List<Budget> budgets, int layers, List<List<String>> routedExpertsByLayer, IntFunction<String> layerBuffer,
                   Measure measure, KvDemand kv) {
        this.budgets = List.copyOf(budgets);
        this.layers = layers;
        this.routedExpertsByLayer = List.copyOf(routedExpertsByLayer);
        this.layerBuffer = layerBuffer;
        this.measure = measure;
        this.kv = kv;
    }

    /**
     * The fullest placement that fits every budget, starting from {@code given} (whose {@code -ot}
     * patterns are kept, first).
     *
     * @throws PlacementException when not even the layers' compute fits a device with nothing on it
     */
    public Plan fit(Offload given) {
        List<Offload> ladder = ladder(given);
        Trial first = measure(ladder.getFirst());
        if (!fits(first, budgets)) {
            throw new PlacementException("no placement fits: " + overBudget(first) + "; give the device more room (--device-memory, "
                    + "--fit-target) or compute on the CPU (--device cpu)");
        }
        int low = 0;                      // fits
        int high = ladder.size();         // first step known not to fit (or past the end)
        Trial best = first;
        while (high - low > 1) {
            int middle = (low + high) >>> 1;
            Trial trial = measure(ladder.get(middle));
            if (fits(trial, budgets)) {
                low = middle;
                best = trial;
            } else {
                high = middle;
            }
        }
        return new Plan(growKv(best), budgets, true);
    }

    /**
     * The placement {@code given} says, measured and checked against the budgets, so that one that does
     * not fit is refused with what it needs instead of failing inside ggml.
     *
     * @throws PlacementException when a device would need more than its budget
     */
    public Plan check(Offload given) {
        Trial trial = measure(given);
        if (!fits(trial, budgets)) {
            throw new PlacementException("the placement does not fit: " + overBudget(trial)
                    + "; offload fewer layers (-ngl), keep experts on the CPU (--n-cpu-moe, --cpu-moe), or let --fit plan it");
        }
        return new Plan(growKv(trial), budgets, false);
    }

    /** {@code offload} measured with the KV cache's share of the devices asked for, or, planned, its first tokens'. */
    private Trial measure(Offload offload) {
        long kvBytes = kv.planned() ? kv.sizes().deviceBytes(offload, Math.min(kv.contextLength(), kv.minDeviceTokens())) : kv.requested();
        return measure.of(offload, kvBytes);
    }

    /**
     * With a planned KV cache, {@code placed} with the cache grown into what its devices have left in
     * {@link KvDemand#growInto}: the whole context's cells when they fit, else as many bytes as fit, found by
     * halving down to a block of cells ({@value #KV_BLOCK_TOKENS} tokens) in every device layer.
     */
    private Trial growKv(Trial placed) {
        if (!kv.planned() || kv.growInto().isEmpty() || !fits(placed, kv.growInto())) {
            return placed;
        }
        Offload offload = placed.offload();
        Trial all = measure.of(offload, FitOptions.KV_ALL);
        if (fits(all, kv.growInto())) {
            return all;
        }
        Trial best = placed;
        long low = placed.kvDeviceBytes();
        long high = kv.sizes().deviceBytes(offload, kv.contextLength());
        long block = Math.max(1, kv.sizes().deviceBytes(offload, KV_BLOCK_TOKENS));
        while (high - low > block) {
            long middle = low + (high - low) / 2;
            Trial trial = measure.of(offload, middle);
            if (fits(trial, kv.growInto())) {
                low = middle;
                best = trial;
            } else {
                high = middle;
            }
        }
        return best;
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
                steps.add(new Offload(gpuLayers, given.overrides(), true, 0, shares, given.repack()));
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
                steps.add(new Offload(Offload.ALL_LAYERS, overrides, false, cpuMoeLayers, shares, given.repack()));
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

    private static boolean fits(Trial trial, List<Budget> within) {
        return within.stream().allMatch(b -> trial.needs().of(b.device()).total() <= b.bytes());
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
