package dev.panllama.eval;

/**
 * Where an evaluator's micro-batches spent their time since it was created or last asked to forget:
 * in ggml computing the graph (on a GPU: the kernels, and ggml's own host work of launching them), in
 * building a graph for a new batch shape, and the rest on the host in Java (writing the inputs,
 * reading the logits back). One-token decoding on a fast GPU is where the Java side shows: its share
 * of a step is {@link #hostFraction()}. It also counts the graphs the steps computed and how many of
 * them had to be built rather than reused (a step with an expert cache computes one graph per cached
 * layer and one more).
 */
public record StepTimes(long steps, long totalNanos, long computeNanos, long graphBuildNanos, long graphsComputed, long graphsBuilt) {

    public static final StepTimes NONE = new StepTimes(0, 0, 0, 0, 0, 0);

    /** Time outside ggml's compute: graph building, inputs, logits. */
    public long hostNanos() {
        return totalNanos - computeNanos;
    }

    /** {@link #hostNanos()} as a share of the steps' whole time; 0 before the first step. */
    public double hostFraction() {
        return totalNanos == 0 ? 0 : (double) hostNanos() / totalNanos;
    }

    /** Mean nanoseconds per step outside ggml's compute; 0 before the first step. */
    public double hostNanosPerStep() {
        return steps == 0 ? 0 : (double) hostNanos() / steps;
    }

    /** Mean nanoseconds per step spent building graphs (a part of {@link #hostNanosPerStep()}); 0 before the first step. */
    public double graphBuildNanosPerStep() {
        return steps == 0 ? 0 : (double) graphBuildNanos / steps;
    }

    /** Mean graphs computed per step; 0 before the first step. */
    public double graphsPerStep() {
        return steps == 0 ? 0 : (double) graphsComputed / steps;
    }

    /** Mean graphs built per step, the rest of {@link #graphsPerStep()} reused; 0 before the first step. */
    public double graphsBuiltPerStep() {
        return steps == 0 ? 0 : (double) graphsBuilt / steps;
    }

    /** Mean nanoseconds per step, all of it; 0 before the first step. */
    public double nanosPerStep() {
        return steps == 0 ? 0 : (double) totalNanos / steps;
    }

    /** The steps of both, together: to add up measured runs while leaving out what ran between them. */
    public StepTimes plus(StepTimes other) {
        return new StepTimes(steps + other.steps, totalNanos + other.totalNanos, computeNanos + other.computeNanos,
                graphBuildNanos + other.graphBuildNanos, graphsComputed + other.graphsComputed, graphsBuilt + other.graphsBuilt);
    }

    /** These steps and one more, which took {@code total} nanoseconds and computed {@code graphs} graphs, {@code built} of them built for it. */
    StepTimes plus(long total, long compute, long graphBuild, int graphs, int built) {
        return new StepTimes(steps + 1, totalNanos + total, computeNanos + compute, graphBuildNanos + graphBuild, graphsComputed + graphs,
                graphsBuilt + built);
    }
}
