package dev.panllama.placement;

import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.LayerWeights;
import dev.panllama.model.ModelConfig;
import dev.panllama.model.ModelWeights;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.Phaser;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;

/**
 * Hot experts: for each mixture-of-experts layer whose routed experts live in host memory, a few
 * slots in device memory that hold copies of the experts its routing chooses most (as an
 * {@link ExpertPolicy} ranks them). The evaluator asks, before a layer's experts are computed, which
 * chosen experts are in a slot ({@link #split}): those pairs are computed on the device from the slot,
 * the others where the experts live. After each step ({@link #endStep}), never during one, the cache
 * decides which experts the policy now wants in the slots of those it no longer does, and copies them
 * there straight from the model file's bytes (a host copy may be repacked for the CPU's kernels, in
 * another layout), so a slot holds exactly what the file does, and results do not depend on what is
 * cached.
 *
 * <p>Given an executor (the model gives one where the device takes writes from another thread while a
 * graph computes: CUDA), the copies run there, off the critical path: a slot being filled is neither
 * hit (its new expert counts as a miss until the copy has ended) nor chosen for another copy, and its
 * evicted expert is a miss from the moment the copy is decided, so no graph reads a slot while it is
 * written. Finished copies are taken in on the evaluating thread, before a layer's split and at the end
 * of a step. Without one, the copies run at the end of the step, before it returns.
 *
 * <p>The cache belongs to its model and is used under the model's compute lock. It counts, per layer,
 * hits, misses and loads ({@link #statistics()}).
 */
public final class ExpertCache implements AutoCloseable {

    /** A cached layer's slots: device copies of its gate, up and down matrices, {@code slots} experts each. */
    public record Slots(Tensor gate, Tensor up, Tensor down) {
    }

    private final ExpertPolicy policy;
    private final int slots;
    private final int experts;
    private final int[] layers;
    /** Per model layer, the index of its cache in {@link #layers}, or -1. */
    private final int[] indexOfLayer;
    private final List<Slots> slotTensors = new ArrayList<>();
    private final List<Tensor[]> hostTensors = new ArrayList<>();
    private final Function<String, MemorySegment> fileBytes;
    private final GgmlContext context;
    private final int[][] slotOfExpert;
    private final int[][] expertInSlot;
    private final double[][] scores;
    private final int[][] chosen;
    private final long[] hits;
    private final long[] misses;
    private final long[] loads;
    private long step;
    /** Where copies run; null: on the evaluating thread, at the end of the step. */
    private final Executor copier;
    /** Per cached layer and slot, the expert being copied into it, or -1. Read and written on the evaluating thread only. */
    private final int[][] loadingInSlot;
    /** Copies that have ended, for the evaluating thread to take in. */
    private final Queue<Load> finished = new ConcurrentLinkedQueue<>();
    /** Counts the copies in flight, so that closing waits for them before the slots' memory goes. */
    private final Phaser inFlight = new Phaser(1);
    /** The first copy that failed, rethrown on the evaluating thread. */
    private volatile RuntimeException copyFailure;

    /** A copy of {@code expert} into {@code slot} of cached layer {@code layer} (an index into {@link #layers}). */
    private record Load(int layer, int expert, int slot) {
    }

    /**
     * A cache of {@code slots} experts per layer for the layers of {@code weights} whose routed experts
     * are in host memory, in the memory of the first device the model offloads to.
     * {@code fileBytes} gives a weight's bytes as the model file holds them, by tensor name. The copies
     * into the slots run on {@code copier} (null: on the evaluating thread), whose thread must be allowed
     * to write the device's buffers while graphs compute (ggml-cuda's are: each thread copies on a stream
     * of its own; ggml's RPC client's are not: its calls to a server share one socket).
     *
     * @throws IllegalArgumentException when there is no device, no such layer, or the slots do not fit
     *                                  the number of experts
     * @throws IllegalStateException    when the device cannot allocate the slots
     */
    public ExpertCache(ModelConfig config, ModelWeights weights, WeightPlacement placement, Function<String, MemorySegment> fileBytes,
                       int slots, ExpertPolicy policy, Executor copier) {
        if (placement.devices().isEmpty()) {
            throw new IllegalArgumentException("the expert cache needs a device (a GPU, an RPC server) for its slots");
        }
        this.experts = config.experts().count();
        if (slots < 1 || slots > experts) {
            throw new IllegalArgumentException("the expert cache takes 1 to " + experts + " experts per layer, not " + slots);
        }
        this.layers = hostExpertLayers(config, weights, placement);
        if (layers.length == 0) {
            throw new IllegalArgumentException("no layer has its routed experts in host memory: there is nothing to cache");
        }
        this.policy = policy;
        this.slots = slots;
        this.fileBytes = fileBytes;
        this.indexOfLayer = new int[config.dims().layers()];
        Arrays.fill(indexOfLayer, -1);
        this.context = GgmlContext.create(3 * layers.length);
        try {
            for (int i = 0; i < layers.length; i++) {
                int layer = layers[i];
                indexOfLayer[layer] = i;
                LayerWeights w = weights.layer(layer);
                Tensor[] host = {w.expertsGate(), w.expertsUp(), w.expertsDown()};
                hostTensors.add(host);
                slotTensors.add(new Slots(slotsLike(host[0]), slotsLike(host[1]), slotsLike(host[2])));
            }
            context.allocate(placement.devices().getFirst().bufferType());
        } catch (RuntimeException e) {
            context.close();
            throw e;
        }
        this.copier = copier;
        this.slotOfExpert = new int[layers.length][experts];
        this.expertInSlot = new int[layers.length][slots];
        this.loadingInSlot = new int[layers.length][slots];
        for (int i = 0; i < layers.length; i++) {
            Arrays.fill(slotOfExpert[i], -1);
            Arrays.fill(expertInSlot[i], -1);
            Arrays.fill(loadingInSlot[i], -1);
        }
        this.scores = new double[layers.length][experts];
        this.chosen = new int[layers.length][experts];
        this.hits = new long[layers.length];
        this.misses = new long[layers.length];
        this.loads = new long[layers.length];
    }

    /** The mixture-of-experts layers of {@code weights} none of whose routed expert tensors is in a device's memory. */
    public static int[] hostExpertLayers(ModelConfig config, ModelWeights weights, WeightPlacement placement) {
        List<String> deviceBuffers = placement.devices().stream().map(d -> d.bufferType().name()).toList();
        List<Integer> found = new ArrayList<>();
        for (int layer = 0; layer < config.dims().layers(); layer++) {
            if (!config.plan().isMoe(layer)) {
                continue;
            }
            LayerWeights w = weights.layer(layer);
            boolean onHost = true;
            for (Tensor t : new Tensor[] {w.expertsGate(), w.expertsUp(), w.expertsDown()}) {
                onHost &= !deviceBuffers.contains(weights.bufferOfWeight().get(t.name()));
            }
            if (onHost) {
                found.add(layer);
            }
        }
        return found.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * How many experts per layer {@code bytes} of device memory hold for the layers
     * {@link #hostExpertLayers} finds, at most all of them; 0 when there are no such layers or not
     * even one expert per layer fits.
     */
    public static int slotsFor(ModelConfig config, ModelWeights weights, WeightPlacement placement, long bytes) {
        int[] cached = hostExpertLayers(config, weights, placement);
        long perSlot = 0;
        for (int layer : cached) {
            perSlot += expertBytes(weights, layer);
        }
        return perSlot == 0 ? 0 : (int) Math.min(config.experts().count(), bytes / perSlot);
    }

    /** Bytes one expert takes in a slot of {@code layer}: its gate, up and down matrices. */
    public static long expertBytes(ModelWeights weights, int layer) {
        LayerWeights w = weights.layer(layer);
        return w.expertsGate().nb(2) + w.expertsUp().nb(2) + w.expertsDown().nb(2);
    }

    private Tensor slotsLike(Tensor host) {
        return context.newTensor(host.type(), host.ne(0), host.ne(1), slots).name(host.name() + ".slots");
    }

    /** The model's layer numbers of the cached layers, ascending. */
    public int[] layers() {
        return layers.clone();
    }

    /** Whether {@code layer}'s experts are cached. */
    public boolean caches(int layer) {
        return layer >= 0 && layer < indexOfLayer.length && indexOfLayer[layer] >= 0;
    }

    /** Slots per cached layer. */
    public int slots() {
        return slots;
    }

    public ExpertPolicy policy() {
        return policy;
    }

    /** The slots of cached layer {@code layer}. */
    public Slots slotsOf(int layer) {
        return slotTensors.get(index(layer));
    }

    /** The experts in {@code layer}'s slots, by slot; -1 for an empty one. */
    public int[] cachedExperts(int layer) {
        return expertInSlot[index(layer)].clone();
    }

    /**
     * Splits the chosen experts {@code selected} (I32 {@code [n_expert_used, n_tokens]} as the router
     * lays them out) of cached layer {@code layer} into hits and misses, and counts them for the
     * statistics and the policy.
     */
    public ExpertSplit split(int layer, int[] selected) {
        int i = index(layer);
        takeInFinishedCopies();
        int hitCount = 0;
        for (int expert : selected) {
            checkExpert(expert);
            chosen[i][expert]++;
            if (slotOfExpert[i][expert] >= 0) {
                hitCount++;
            }
        }
        int[] hitPairs = new int[hitCount];
        int[] hitSlots = new int[hitCount];
        int[] missPairs = new int[selected.length - hitCount];
        int[] missExperts = new int[selected.length - hitCount];
        int h = 0, m = 0;
        for (int p = 0; p < selected.length; p++) {
            int slot = slotOfExpert[i][selected[p]];
            if (slot >= 0) {
                hitPairs[h] = p;
                hitSlots[h++] = slot;
            } else {
                missPairs[m] = p;
                missExperts[m++] = selected[p];
            }
        }
        hits[i] += hitCount;
        misses[i] += selected.length - hitCount;
        return new ExpertSplit(hitPairs, hitSlots, missPairs, missExperts);
    }

    /**
     * Ends a step: each layer's scores take in what the step chose, and the experts the policy ranks in
     * the first {@link #slots()} (among those ever chosen; ties go to cached ones) are copied into the
     * slots of the cached experts that are not.
     */
    public void endStep() {
        step++;
        takeInFinishedCopies();
        for (int i = 0; i < layers.length; i++) {
            policy.update(scores[i], chosen[i], step);
            Arrays.fill(chosen[i], 0);
            hold(i, wanted(i));
        }
    }

    /**
     * Fills the slots of cached layer {@code layer} with {@code experts} (at most {@link #slots()}, the
     * first ones first), as a saved routing profile says, scored as the policy scores experts in steady
     * use ({@link ExpertPolicy#warmScore}), in their order.
     */
    public void warm(int layer, int[] experts) {
        int i = index(layer);
        int[] first = Arrays.copyOf(experts, Math.min(experts.length, slots));
        double score = policy.warmScore(step);
        for (int rank = 0; rank < first.length; rank++) {
            checkExpert(first[rank]);
            scores[i][first[rank]] = Math.max(scores[i][first[rank]], score + (first.length - rank) * 1e-3);
        }
        hold(i, first);
    }

    /** The experts cached layer {@code i} should hold: by score, at most {@link #slots()}, each chosen once at least. */
    private int[] wanted(int i) {
        Integer[] order = new Integer[experts];
        for (int e = 0; e < experts; e++) {
            order[e] = e;
        }
        double[] score = scores[i];
        int[] slotOf = slotOfExpert[i];
        Arrays.sort(order, (a, b) -> {
            int byScore = Double.compare(score[b], score[a]);
            if (byScore != 0) {
                return byScore;
            }
            int byCached = Boolean.compare(slotOf[b] >= 0, slotOf[a] >= 0);
            return byCached != 0 ? byCached : Integer.compare(a, b);
        });
        int count = 0;
        while (count < slots && score[order[count]] > 0) {
            count++;
        }
        int[] wanted = new int[count];
        for (int k = 0; k < count; k++) {
            wanted[k] = order[k];
        }
        return wanted;
    }

    /**
     * Copies each of {@code wanted} that is neither cached nor being copied into a slot that is not being
     * filled and is empty or holds an expert not wanted; with a copier, only while such slots are left
     * (the rest wait for a later step).
     */
    private void hold(int i, int[] wanted) {
        boolean[] isWanted = new boolean[experts];
        for (int e : wanted) {
            isWanted[e] = true;
        }
        int freeSlot = 0;
        for (int expert : wanted) {
            if (slotOfExpert[i][expert] >= 0 || isLoading(i, expert)) {
                continue;
            }
            while (freeSlot < slots && (loadingInSlot[i][freeSlot] >= 0
                    || expertInSlot[i][freeSlot] >= 0 && isWanted[expertInSlot[i][freeSlot]])) {
                freeSlot++;
            }
            if (freeSlot == slots) {
                return;     // every slot left is being filled
            }
            int evicted = expertInSlot[i][freeSlot];
            if (evicted >= 0) {
                slotOfExpert[i][evicted] = -1;
                expertInSlot[i][freeSlot] = -1;
            }
            loads[i]++;
            Load load = new Load(i, expert, freeSlot);
            if (copier == null) {
                copy(load);
                publish(load);
            } else {
                loadingInSlot[i][freeSlot] = expert;
                inFlight.register();
                try {
                    copier.execute(() -> {
                        try {
                            copy(load);
                            finished.add(load);
                        } catch (RuntimeException e) {
                            if (copyFailure == null) {
                                copyFailure = e;
                            }
                        } finally {
                            inFlight.arriveAndDeregister();
                        }
                    });
                } catch (RejectedExecutionException e) {
                    // The copier has stopped (the model is closing): the slot stays empty.
                    inFlight.arriveAndDeregister();
                    loadingInSlot[i][freeSlot] = -1;
                }
            }
        }
    }

    private boolean isLoading(int i, int expert) {
        for (int loading : loadingInSlot[i]) {
            if (loading == expert) {
                return true;
            }
        }
        return false;
    }

    /** Makes the copies that have ended hits from now on; rethrows a copy's failure. */
    private void takeInFinishedCopies() {
        if (copyFailure != null) {
            throw new IllegalStateException("copying an expert into the device's cache failed", copyFailure);
        }
        for (Load load = finished.poll(); load != null; load = finished.poll()) {
            loadingInSlot[load.layer()][load.slot()] = -1;
            publish(load);
        }
    }

    private void publish(Load load) {
        expertInSlot[load.layer()][load.slot()] = load.expert();
        slotOfExpert[load.layer()][load.expert()] = load.slot();
    }

    /**
     * Waits until the copies in flight have ended and takes them in: for a test to see a steady cache, and
     * before closing.
     */
    public void awaitCopies() {
        inFlight.arriveAndAwaitAdvance();
        takeInFinishedCopies();
    }

    /** Copies an expert of a cached layer from the file into a slot. */
    private void copy(Load load) {
        int i = load.layer();
        int expert = load.expert();
        int slot = load.slot();
        Tensor[] host = hostTensors.get(i);
        Slots target = slotTensors.get(i);
        Tensor[] slotted = {target.gate(), target.up(), target.down()};
        for (int m = 0; m < 3; m++) {
            long bytes = host[m].nb(2);
            MemorySegment source = fileBytes.apply(host[m].name());
            slotted[m].write(slot * bytes, source.asSlice(expert * bytes, bytes));
        }
    }

    /** What the cache did since it opened or since the last {@link #resetStatistics()}. */
    public ExpertCacheStatistics statistics() {
        return new ExpertCacheStatistics(layers, hits, misses, loads);
    }

    /** Starts the counts afresh (the cached experts and their scores stay). */
    public void resetStatistics() {
        Arrays.fill(hits, 0);
        Arrays.fill(misses, 0);
        Arrays.fill(loads, 0);
    }

    /**
     * The experts each cached layer ranks first now, best first (at most {@link #slots()}): what a
     * routing profile saves, to {@link #warm} a cache with later.
     */
    public int[][] ranking() {
        int[][] ranked = new int[layers.length][];
        for (int i = 0; i < layers.length; i++) {
            ranked[i] = wanted(i);
        }
        return ranked;
    }

    /** Bytes of device memory the slots take. */
    public long deviceBytes() {
        return context.allocatedBytes();
    }

    /** One line for people: how many experts of which layers, in how much device memory, chosen how. */
    public String describe() {
        return String.format("expert cache: %d of %d experts per layer for layers %s in %.1f MiB of device memory (%s)", slots(), experts,
                Arrays.toString(layers).replaceAll("[\\[\\]]", ""), deviceBytes() / 1048576.0,
                policy().name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'));
    }

    private int index(int layer) {
        if (!caches(layer)) {
            throw new IllegalArgumentException("layer " + layer + "'s experts are not cached");
        }
        return indexOfLayer[layer];
    }

    private void checkExpert(int expert) {
        if (expert < 0 || expert >= experts) {
            throw new IllegalArgumentException("expert " + expert + " is outside 0.." + (experts - 1));
        }
    }

    @Override
    public void close() {
        // No copy may write into the slots once their memory is freed.
        inFlight.arriveAndAwaitAdvance();
        context.close();
    }
}
