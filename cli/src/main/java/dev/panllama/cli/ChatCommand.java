package dev.panllama.cli;

import dev.panllama.api.Chat;
import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.model.demo.DemoModel;
import dev.panllama.placement.ExpertCacheStatistics;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Interactive chat: line editing and history on a terminal, one message per line from a pipe. A line
 * ending in a backslash continues on the next. Ctrl-C stops the reply being written, not the program.
 */
@Command(name = "chat", mixinStandardHelpOptions = true,
        description = "Chat with a model. Without -m, with panllama's demo model (random weights).")
final class ChatCommand extends Subcommand {

    @Mixin
    ModelArgs model;

    @Mixin
    SamplingArgs sampling;

    @Option(names = {"-sys", "--system"}, paramLabel = "TEXT", description = "System prompt.")
    String system;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", description = "Most tokens per reply; -1 no limit (default: -1).")
    int maxTokens = -1;

    @Mixin
    ChatFormatArgs chatFormat;

    @Mixin
    StructuredOutputArgs structure;

    @Mixin
    ReasoningBudgetArgs reasoningBudget;

    private static final String HELP = """
            /help            this list
            /reset           forget the conversation (the system prompt stays)
            /system TEXT     set the system prompt
            /save FILE       save the conversation and its KV cache
            /load FILE       continue a conversation saved with /save (same model)
            /stats           speed of the last reply; the expert cache's hit rate per layer, when there is one
            /exit            leave (Ctrl-D does too)
            End a line with \\ to continue on the next; Ctrl-C stops a reply.""";

    @Override
    public Integer call() throws IOException {
        PrintWriter out = out();
        PrintWriter err = err();
        Path file = model.given() ? model.requireModel() : null;
        if (file == null) {
            err.println("""
                    No model given: starting panllama's demo model (Llama 4 architecture, random weights, real Llama 3 tokenizer).
                    Its replies are meaningless. To chat with a real model: panllama chat -m MODEL.gguf
                    (panllama list shows the GGUF files already on this machine).""");
            file = DemoModel.ensure();
        }
        GenerationOptions given = reasoningBudget.apply(structure.apply(new GenerationOptions(maxTokens, List.of(), sampling.options())));
        String template = chatFormat.readTemplate();
        try (LlamaModel llama = model.open(file, err);
             Chat chat = llama.newChat(system, chatFormat.resolve(llama, template))) {
            GenerationOptions options = sampling.forVocabulary(given, llama.vocabulary());
            Session session = new Session(chat, options, out, err, llama::expertCacheStatistics);
            if (System.console() != null && System.console().isTerminal()) {
                interactive(session);
            } else {
                piped(session);
            }
        }
        return 0;
    }

    private void interactive(Session session) throws IOException {
        try (Terminal terminal = TerminalBuilder.builder().system(true).build()) {
            LineReader reader = LineReaderBuilder.builder().terminal(terminal)
                    .variable(LineReader.HISTORY_FILE, dev.panllama.bindings.UserCache.user().root().resolve("chat_history"))
                    .build();
            terminal.handle(Terminal.Signal.INT, signal -> session.chat.cancel());
            session.err.println("Type a message, /help for commands.");
            while (true) {
                String message;
                try {
                    message = readMessage(() -> reader.readLine("> "), () -> reader.readLine(". "));
                } catch (UserInterruptException e) {
                    continue;
                } catch (EndOfFileException e) {
                    return;
                }
                try {
                    if (!session.handle(message)) {
                        return;
                    }
                } catch (IllegalArgumentException | UncheckedIOException e) {
                    // A mistyped /load must not end the conversation at hand.
                    session.err.println("panllama: " + e.getMessage());
                }
            }
        }
    }

    private void piped(Session session) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        while (true) {
            String message = readMessage(in::readLine, in::readLine);
            if (message == null || !session.handle(message)) {
                return;
            }
        }
    }

    @FunctionalInterface
    private interface LineSource {
        String read() throws IOException;
    }

    /** One message: a line, or several joined where each but the last ends in a backslash. */
    private static String readMessage(LineSource first, LineSource next) throws IOException {
        String line = first.read();
        if (line == null) {
            return null;
        }
        StringBuilder message = new StringBuilder();
        while (line != null && line.endsWith("\\")) {
            message.append(line, 0, line.length() - 1).append('\n');
            line = next.read();
        }
        return message.append(line == null ? "" : line).toString();
    }

    /** The conversation and the commands typed into it. */
    private static final class Session {
        final Chat chat;
        final GenerationOptions options;
        final PrintWriter out;
        final PrintWriter err;
        /** The model's expert cache statistics since it opened, for /stats; empty without a cache. */
        final Supplier<Optional<ExpertCacheStatistics>> expertCache;
        Generation last;

        Session(Chat chat, GenerationOptions options, PrintWriter out, PrintWriter err,
                Supplier<Optional<ExpertCacheStatistics>> expertCache) {
            this.chat = chat;
            this.options = options;
            this.out = out;
            this.err = err;
            this.expertCache = expertCache;
        }

        /** Handles one line; false to leave. */
        boolean handle(String line) throws IOException {
            String text = line.strip();
            if (text.isEmpty()) {
                return true;
            }
            if (text.startsWith("/")) {
                return command(text);
            }
            last = chat.send(line, options, piece -> {
                out.print(piece);
                out.flush();
            });
            out.println();
            if (last.stopReason() == Generation.StopReason.CANCELLED) {
                err.println("[stopped]");
            }
            err.println(stats(last));
            return true;
        }

        private boolean command(String text) throws IOException {
            String[] parts = text.split("\\s+", 2);
            String argument = parts.length > 1 ? parts[1] : "";
            switch (parts[0]) {
                case "/exit", "/quit" -> {
                    return false;
                }
                case "/help" -> err.println(HELP);
                case "/reset" -> {
                    chat.reset();
                    err.println("[conversation forgotten]");
                }
                case "/system" -> {
                    chat.systemPrompt(argument);
                    err.println(argument.isEmpty() ? "[system prompt removed]" : "[system prompt set]");
                }
                case "/save" -> {
                    requireArgument(argument, "/save FILE");
                    chat.save(Path.of(argument));
                    err.println("[saved " + chat.messages().size() + " messages and " + chat.cachedTokens() + " tokens to " + argument + "]");
                }
                case "/load" -> {
                    requireArgument(argument, "/load FILE");
                    int tokens = chat.load(Path.of(argument));
                    err.println("[loaded " + chat.messages().size() + " messages and " + tokens + " tokens]");
                }
                case "/stats" -> {
                    err.println(last == null ? "[no reply yet]" : stats(last));
                    expertCache.get().ifPresent(statistics -> err.println("[expert cache since the model opened]\n" + statistics.describe()));
                }
                default -> err.println("unknown command " + parts[0] + "; /help lists them");
            }
            return true;
        }

        private void requireArgument(String argument, String usage) {
            if (argument.isEmpty()) {
                throw new IllegalArgumentException("usage: " + usage);
            }
        }

        private static String stats(Generation g) {
            return "[prompt " + Units.tokens(g.promptTokens(), g.promptTokensPerSecond())
                    + " | reply " + Units.tokens(g.generatedIds().length, g.generatedTokensPerSecond()) + "]";
        }
    }
}
