package dev.panllama.cli;

import picocli.CommandLine.Option;

/** {@code -t}, for the commands that work on files without opening a model (those that do take it from {@link ModelArgs}). */
final class ThreadsArg {

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads (default: all cores).")
    int count = Runtime.getRuntime().availableProcessors();
}
