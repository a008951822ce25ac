package dev.panllama.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/**
 * What every subcommand shares: picocli's spec of it, and the streams it writes to (those
 * {@link Panllama#run} was given, so that tests read them). A subcommand adds its options and {@code call}.
 */
abstract class Subcommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    /** Where the command's result goes. */
    final PrintWriter out() {
        return spec.commandLine().getOut();
    }

    /** Where progress, statistics and notes go. */
    final PrintWriter err() {
        return spec.commandLine().getErr();
    }
}
