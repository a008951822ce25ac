package dev.panllama.script;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;

/**
 * The {@code main} of a helper that the scripts run (model writers, report printers, the load client):
 * a user can run it by hand, or pass one of its arguments through a script's options, so bad arguments
 * get the usage line and exit status 2, and a failure one line and status 1, never a stack trace
 * (set {@code PANLLAMA_VERBOSE=1} for the trace).
 */
public final class ScriptMain {

    /** The helper's work, given its arguments. */
    @FunctionalInterface
    public interface Body {
        void run(String[] args) throws IOException, InterruptedException;
    }

    private ScriptMain() {
    }

    /**
     * Runs {@code body} with {@code args} when there are at least {@code requiredArgs} of them; exits
     * non-zero when there are not or when it fails (an {@link IllegalArgumentException}, such as an
     * argument that is not a number, is the user's: status 2).
     */
    public static void run(String usage, int requiredArgs, String[] args, Body body) {
        if (args.length < requiredArgs) {
            System.err.println("usage: " + usage);
            System.exit(2);
        }
        try {
            body.run(args);
        } catch (NumberFormatException e) {
            fail(e, "not a number: " + e.getMessage().replaceFirst("^For input string: ", "") + "\nusage: " + usage, 2);
        } catch (IllegalArgumentException e) {
            fail(e, message(e) + "\nusage: " + usage, 2);
        } catch (NoSuchFileException e) {
            fail(e, "no such file: " + e.getFile(), 1);
        } catch (IOException | UncheckedIOException e) {
            fail(e, "I/O error: " + message(e), 1);
        } catch (InterruptedException e) {
            fail(e, "interrupted", 1);
        } catch (RuntimeException e) {
            fail(e, message(e), 1);
        }
    }

    /** The exception's message, or its class and nothing more when it has none (never "null"). */
    private static String message(Exception e) {
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }

    private static void fail(Exception e, String message, int status) {
        System.err.println(message);
        if (System.getenv("PANLLAMA_VERBOSE") != null) {
            e.printStackTrace();
        }
        System.exit(status);
    }
}
