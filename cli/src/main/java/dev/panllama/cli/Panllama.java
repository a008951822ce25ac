package dev.panllama.cli;

import dev.panllama.bindings.NativeLibraryException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.Properties;
import java.util.concurrent.Callable;

/**
 * The {@code panllama} command. Until chat exists, run without a subcommand it reports the build: the
 * version, the ggml pin, the backends it found and the CPU features.
 */
@Command(name = "panllama",
        mixinStandardHelpOptions = true,
        versionProvider = Panllama.Version.class,
        description = "Runs Llama 4 class models on a workstation, over ggml.")
public final class Panllama implements Callable<Integer> {

    @Option(names = "--verbose", description = "Print stack traces with errors.")
    boolean verbose;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        SystemReport.print(spec.commandLine().getOut(), Version.current());
        return 0;
    }

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the command as {@code main} would, writing to the given streams; returns the exit code. */
    static int run(String[] args, PrintWriter out, PrintWriter err) {
        Panllama command = new Panllama();
        CommandLine commandLine = new CommandLine(command).setOut(out).setErr(err);
        commandLine.setExecutionExceptionHandler((exception, line, parsed) -> {
            line.getErr().println("panllama: " + userMessage(exception));
            if (command.verbose) {
                exception.printStackTrace(line.getErr());
            }
            return exception instanceof NativeLibraryException ? 3 : 1;
        });
        return commandLine.execute(args);
    }

    private static String userMessage(Exception exception) {
        String message = exception.getMessage();
        return message == null || message.isBlank() ? exception.getClass().getSimpleName() : message;
    }

    /** The version Maven wrote into the jar. */
    static final class Version implements CommandLine.IVersionProvider {
        static String current() {
            try (InputStream in = Panllama.class.getResourceAsStream("version.properties")) {
                Properties properties = new Properties();
                if (in != null) {
                    properties.load(in);
                }
                return properties.getProperty("version", "unknown");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public String[] getVersion() {
            return new String[] {"panllama " + current()};
        }
    }
}
