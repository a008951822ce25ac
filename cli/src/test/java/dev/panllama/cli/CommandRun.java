package dev.panllama.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** One run of the panllama command in this process, for the command's tests: its exit code and what it wrote. */
record CommandRun(int exitCode, String out, String err) {

    static CommandRun of(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Panllama.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new CommandRun(code, out.toString(), err.toString());
    }
}
