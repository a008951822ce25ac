package dev.panllama.cli;

import dev.panllama.api.PanllamaVersion;
import dev.panllama.bindings.NativeLibraryException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/**
 * The {@code panllama} command: one class per subcommand, over the Java API. Run without a
 * subcommand it reports the build: the version, the ggml pin, the backends it found and the CPU
 * features. Errors print one line (the stack trace with {@code --verbose}; a usage error, where
 * to find the options) and exit non-zero:
 * 2 for bad usage, 3 when the native libraries are missing, 1 otherwise.
 */
@Command(name = "panllama",
        mixinStandardHelpOptions = true,
        versionProvider = Panllama.Version.class,
        description = "Runs Llama 4 class models on a workstation, over ggml. Without a command: what it runs on.",
        subcommands = {ChatCommand.class, GenerateCommand.class, ServeCommand.class, EmbedCommand.class, TokenizeCommand.class, InfoCommand.class, QuantizeCommand.class, ConvertCommand.class,
                BenchCommand.class, ListCommand.class, picocli.AutoComplete.GenerateCompletion.class})
public final class Panllama implements Callable<Integer> {

    @Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT,
            description = "Print stack traces with errors, and ggml's own log.")
    void verbose(boolean on) {
        verbose = on;
        dev.panllama.bindings.GgmlLog.verbose(on);
    }

    boolean verbose;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        SystemReport.print(spec.commandLine().getOut(), PanllamaVersion.current());
        return 0;
    }

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the command as {@code main} would, writing to the given streams; returns the exit code. */
    static int run(String[] args, PrintWriter out, PrintWriter err) {
        Panllama command = new Panllama();
        CommandLine commandLine = new CommandLine(command).setOut(out).setErr(err);
        commandLine.getSubcommands().get("generate-completion").getCommandSpec().usageMessage().hidden(false);
        // A mistyped option or value: the message and where to look, not the whole usage, which would
        // scroll the message out of sight.
        commandLine.setParameterExceptionHandler((exception, arguments) -> {
            PrintWriter failedErr = exception.getCommandLine().getErr();
            failedErr.println("panllama: " + exception.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(exception, failedErr);
            failedErr.println("Try '" + exception.getCommandLine().getCommandSpec().qualifiedName() + " --help' for the options.");
            return 2;
        });
        commandLine.setExecutionExceptionHandler((exception, line, parsed) -> {
            line.getErr().println("panllama: " + userMessage(exception));
            if (command.verbose) {
                exception.printStackTrace(line.getErr());
            }
            return exception instanceof NativeLibraryException ? 3 : exception instanceof IllegalArgumentException ? 2 : 1;
        });
        return commandLine.execute(args);
    }

    private static String userMessage(Exception exception) {
        String message = exception.getMessage();
        return message == null || message.isBlank() ? exception.getClass().getSimpleName() : message;
    }

    /** The version Maven wrote into the runtime's jar. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"panllama " + PanllamaVersion.current()};
        }
    }
}
