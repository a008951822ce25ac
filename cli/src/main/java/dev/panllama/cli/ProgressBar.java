package dev.panllama.cli;

import java.io.PrintWriter;

/** The one-line progress bar of a long command, with an ETA: drawn in place on a terminal, nowhere else. */
final class ProgressBar {

    private static final int WIDTH = 30;

    private final PrintWriter err;
    private final boolean terminal = System.console() != null && System.console().isTerminal();
    private final long started = System.nanoTime();

    ProgressBar(PrintWriter err) {
        this.err = err;
    }

    /** Redraws the bar at {@code fraction} (0 to 1) of the work, followed by {@code detail}. */
    void show(double fraction, String detail) {
        if (!terminal) {
            return;
        }
        double seconds = Units.secondsSince(started);
        long eta = fraction > 0 ? Math.round(seconds / fraction - seconds) : 0;
        int filled = (int) Math.round(fraction * WIDTH);
        err.printf("\r[%s%s] %3d%% %s, ETA %ds ", "#".repeat(filled), " ".repeat(WIDTH - filled),
                Math.round(fraction * 100), detail, eta);
        err.flush();
    }

    /** Ends the bar's line, so that what follows starts on its own. */
    void finish() {
        if (terminal) {
            err.println();
        }
    }
}
