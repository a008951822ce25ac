package dev.panllama.cli;

import dev.panllama.api.Embedder;
import dev.panllama.api.LlamaModel;
import dev.panllama.server.ChatReasoning;
import dev.panllama.server.OpenAiServer;
import dev.panllama.server.ServerOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Serves a model over HTTP with OpenAI's API until Ctrl-C (or an interrupt) stops it; then the
 * generation under way is cancelled and the model closed, once, whichever thread gets there first.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a model with OpenAI's API (/v1/chat/completions, /v1/completions, /v1/responses, /v1/models, /health,"
                + " /metrics), Anthropic's (/v1/messages), Ollama's (/api/chat, /api/generate, /api/tags, /api/show, /api/ps, /api/version)"
                + " and llama-server's (/completion, /props, /tokenize, /detokenize, /apply-template).")
final class ServeCommand extends Subcommand {

    @Mixin
    ModelArgs model;

    @Mixin
    ChatFormatArgs chatFormat;

    @Option(names = "--host", paramLabel = "ADDRESS",
            description = "Address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for every interface).")
    String host = ServerOptions.LOOPBACK;

    @Option(names = "--port", paramLabel = "N", description = "TCP port (default: 8080; 0 picks a free one).")
    int port = ServerOptions.DEFAULT_PORT;

    @Option(names = "--api-key", paramLabel = "KEY[,KEY...]",
            description = "Require 'Authorization: Bearer KEY' (or 'x-api-key: KEY') with one of these keys on every request but /health and"
                    + " /api/version. Other users of this machine can read a command line: prefer --api-key-file.")
    String apiKey;

    @Option(names = "--api-key-file", paramLabel = "FILE",
            description = "Read the keys --api-key takes from FILE, one a line; lines that start with # are comments.")
    Path apiKeyFile;

    @Option(names = {"-a", "--alias"}, paramLabel = "NAME", description = "The model's name in the API (default: the file's name without .gguf).")
    String alias;

    @Option(names = "--max-body-bytes", paramLabel = "N", description = "Largest request body accepted (default: 4194304).")
    long maxBodyBytes = ServerOptions.DEFAULT_MAX_BODY_BYTES;

    @Option(names = "--max-prompt-tokens", paramLabel = "N", description = "Longest prompt accepted; 0 for what the context holds (default: 0).")
    int maxPromptTokens;

    @Option(names = "--max-queue", paramLabel = "N",
            description = "Requests that may wait while --parallel ones are generated; more get 429 (default: 16).")
    int maxQueue = ServerOptions.DEFAULT_MAX_QUEUED_REQUESTS;

    @Option(names = {"-np", "--parallel"}, paramLabel = "N",
            description = "Requests generated together, in one batch per step; they share the context -c (default: 4).")
    int parallel = ServerOptions.DEFAULT_PARALLEL;

    @Option(names = "--pooling", paramLabel = "TYPE",
            description = "How the embedding endpoints pool a text's hidden states: mean, cls or last (default: mean).")
    String pooling = "mean";

    @Option(names = "--reasoning-format", paramLabel = "FORMAT",
            description = "deepseek or auto: a chat reply's <think> block goes apart, as reasoning_content; none: it stays in the text (default: auto).")
    String reasoningFormat = "auto";

    @Mixin
    ReasoningBudgetArgs reasoningBudget;

    @Option(names = "--spm-infill", description = "Lay /infill's prompt out suffix first (Suffix/Prefix/Middle), as some code models want (default: prefix first).")
    boolean spmInfill;

    @Option(names = "--slots", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "GET /slots reports what each slot is doing: counts and sampling settings, no text (default: on; --no-slots turns it off).")
    boolean slots = true;

    @Option(names = "--warmup", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Evaluate a token or two before listening, so that the first request does not pay for the first graph (default: on; --no-warmup skips it).")
    boolean warmUp = true;

    @Option(names = "--cors-origins", paramLabel = "ORIGINS",
            description = "Web pages of these origins may call the server from a browser: a comma-separated list such as"
                    + " https://app.example:8443, localhost (pages served from this machine) or * (any page; with no --api-key, any"
                    + " site its user visits could use the model). Default: none.")
    String corsOrigins;

    @Option(names = "--slot-save-path", paramLabel = "DIR",
            description = "The folder POST /slots/{id}?action=save|restore saves slots' caches into and restores them from (default: none, those actions refused).")
    Path slotSavePath;

    @Override
    public Integer call() {
        PrintWriter err = err();
        Path file = model.requireModel();
        String name = file.getFileName().toString();
        List<String> apiKeys = apiKeys();
        ServerOptions options = new ServerOptions(host, port, apiKeys, alias != null ? alias : name.replaceFirst("(?i)\\.gguf$", ""),
                maxBodyBytes, maxPromptTokens, maxQueue, parallel, Embedder.Pooling.of(pooling),
                new ChatReasoning(ChatReasoning.apart(reasoningFormat), reasoningBudget.tokens, reasoningBudget.message), spmInfill, slots, slotSavePath, warmUp,
                corsOrigins == null ? List.of() : Arrays.stream(corsOrigins.split(",")).map(String::strip).filter(o -> !o.isEmpty()).toList());
        checkAddressFree(host, port);
        String template = chatFormat.readTemplate();
        LlamaModel llama = model.open(file, err);
        Shutdown shutdown = new Shutdown(llama);
        Thread hook = new Thread(shutdown::run, "panllama-serve-shutdown");
        try {
            OpenAiServer server = OpenAiServer.start(llama, chatFormat.resolve(llama, template), options);
            shutdown.server = server;
            Runtime.getRuntime().addShutdownHook(hook);
            err.printf("serving %s at http://%s:%d/v1 (Ctrl-C stops)%n", options.modelId(), hostForUrl(host), server.port());
            if (!isLoopback(host) && apiKeys.isEmpty()) {
                err.println("warning: listening beyond this machine without --api-key: anyone who reaches this port can use the model");
            }
            if (options.corsOrigins().contains("*") && apiKeys.isEmpty()) {
                err.println("warning: --cors-origins * without --api-key: any web page this machine's browsers open can use the model");
            }
            err.flush();
            server.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException | IllegalArgumentException e) {
                // shutting down already (the hook runs, or was never added): it closes what is open
            }
            shutdown.run();
        }
        return 0;
    }

    /**
     * The keys of {@code --api-key} (comma-separated, as llama-server reads them) and of {@code --api-key-file};
     * a file that cannot be read, or holds no key, is an error rather than a server open to all.
     */
    private List<String> apiKeys() {
        List<String> keys = new ArrayList<>();
        if (apiKey != null) {
            Arrays.stream(apiKey.split(",")).filter(key -> !key.isEmpty()).forEach(keys::add);
            if (keys.isEmpty()) {
                throw new IllegalArgumentException("--api-key cannot be blank");
            }
        }
        if (apiKeyFile != null) {
            List<String> lines;
            try {
                lines = Files.readAllLines(apiKeyFile);
            } catch (IOException e) {
                throw new IllegalArgumentException("--api-key-file " + apiKeyFile + " cannot be read: " + e.getMessage(), e);
            }
            List<String> read = lines.stream().map(String::strip).filter(line -> !line.isEmpty() && !line.startsWith("#")).toList();
            if (read.isEmpty()) {
                throw new IllegalArgumentException("--api-key-file " + apiKeyFile + " holds no key");
            }
            keys.addAll(read);
        }
        return keys;
    }

    /** Closes the server, then the model, once: from the shutdown hook or from {@code call}. */
    private static final class Shutdown {
        private final LlamaModel model;
        private volatile OpenAiServer server;
        private boolean done;

        Shutdown(LlamaModel model) {
            this.model = model;
        }

        synchronized void run() {
            if (done) {
                return;
            }
            done = true;
            if (server != null) {
                server.close();
            }
            model.close();
        }
    }

    /** Says that the address is taken before a model that may take minutes to load is loaded. */
    private static void checkAddressFree(String host, int port) {
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(new InetSocketAddress(host, port));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot listen on " + host + ":" + port + ": " + e.getMessage(), e);
        }
    }

    private static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    private static String hostForUrl(String host) {
        return host.contains(":") ? "[" + host + "]" : host;
    }
}
