package dev.panllama.cli;

/**
 * How the CLI writes quantities: sizes, parameter counts, durations and speeds. The one place they
 * are formatted, so that every command says them alike.
 */
final class Units {

    private static final long MIB = 1L << 20;
    private static final long GIB = 1L << 30;

    private Units() {
    }

    /** A file or tensor size: {@code 512.00 MiB}, from 1 GiB on {@code 1.50 GiB}. */
    static String bytes(long bytes) {
        if (bytes >= GIB) {
            return String.format("%.2f GiB", bytes / (double) GIB);
        }
        return String.format("%.2f MiB", bytes / (double) MIB);
    }

    /** A device's memory, to a tenth of a GiB: {@code 23.6 GiB}. */
    static String gibibytes(long bytes) {
        return String.format("%.1f GiB", bytes / (double) GIB);
    }

    /** A parameter count: {@code 7.00 M}, from a billion on {@code 1.23 B}. */
    static String count(long n) {
        if (n >= 1_000_000_000L) {
            return String.format("%.2f B", n / 1e9);
        }
        return String.format("%.2f M", n / 1e6);
    }

    /** A duration: {@code 1.5 s}. */
    static String seconds(double seconds) {
        return String.format("%.1f s", seconds);
    }

    /** Seconds elapsed since {@code startNanos}, a {@link System#nanoTime()} reading. */
    static double secondsSince(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    /** Tokens processed and their speed: {@code 12 tokens, 34.5 t/s}. */
    static String tokens(int tokens, double perSecond) {
        return String.format("%d tokens, %.1f t/s", tokens, perSecond);
    }

    /** A measured speed and its standard deviation, as llama-bench prints them: {@code 123.45 ± 6.78}. */
    static String spread(double mean, double deviation) {
        return String.format("%.2f ± %.2f", mean, deviation);
    }
}
