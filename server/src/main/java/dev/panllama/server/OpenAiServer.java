package dev.panllama.server;

import dev.panllama.api.LlamaModel;
import dev.panllama.chat.ChatFormat;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Executors;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * An OpenAI-compatible HTTP server over one {@link LlamaModel}: {@code /v1/chat/completions},
 * {@code /v1/completions} and {@code /v1/responses} (whole or streamed as server-sent events), {@code /v1/models},
 * {@code /v1/embeddings}, {@code /health} and {@code /metrics}; Anthropic's {@code /v1/messages}, for the clients
 * written for Anthropic; Ollama's {@code /api/chat}, {@code /api/generate},
 * {@code /api/tags}, {@code /api/show}, {@code /api/ps} and {@code /api/version}, for the clients
 * written for Ollama; and llama-server's {@code /tokenize}, {@code /detokenize} and
 * {@code /apply-template}. Up to {@link ServerOptions#parallel()} requests are generated together, in
 * one batch per step, the others wait in arrival order ({@link BatchScheduler}). The HTTP side is
 * Jetty 12's core server, whose handlers run on virtual threads. The server does not own the model:
 * close the server, then the model.
 *
 * <pre>{@code
 * try (LlamaModel model = LlamaModel.open(file, ModelOptions.defaults());
 *      OpenAiServer server = OpenAiServer.start(model, ServerOptions.defaults("my-model"))) {
 *     server.join();
 * }
 * }</pre>
 */
public final class OpenAiServer implements AutoCloseable {

    /**
     * Jetty's own log (through SLF4J to java.util.logging) says only what goes wrong; held here so
     * that the level set stays set.
     */
    private static final Logger JETTY_LOG = Logger.getLogger("org.eclipse.jetty");
    /** Long enough for a whole reply generated on a CPU before its first byte is written. */
    private static final Duration IDLE_TIMEOUT = Duration.ofMinutes(10);

    private final Server jetty;
    private final ServerConnector connector;
    private final BatchScheduler scheduler;
    private final EmbeddingEndpoints embeddings;

    private OpenAiServer(Server jetty, ServerConnector connector, BatchScheduler scheduler, EmbeddingEndpoints embeddings) {
        this.jetty = jetty;
        this.connector = connector;
        this.scheduler = scheduler;
        this.embeddings = embeddings;
    }

    /**
     * Starts serving {@code model} as {@code options} say.
     *
     * @throws UncheckedIOException the address cannot be bound (a port in use, an unknown host)
     */
    public static OpenAiServer start(LlamaModel model, ServerOptions options) {
        return start(model, model.defaultChatFormat(), options);
    }

    /**
     * Starts serving {@code model} as {@code options} say, its chats in {@code chatFormat} rather than
     * the model's own.
     *
     * @throws UncheckedIOException the address cannot be bound (a port in use, an unknown host)
     */
    public static OpenAiServer start(LlamaModel model, ChatFormat chatFormat, ServerOptions options) {
        if (JETTY_LOG.getLevel() == null) {
            JETTY_LOG.setLevel(Level.WARNING);
        }
        ServerMetrics metrics = new ServerMetrics();
        Replies replies = new Replies(options.modelId(), Instant.now().getEpochSecond());
        RequestReader reader = new RequestReader(model, chatFormat, options);
        BatchScheduler scheduler = new BatchScheduler(model, options.parallel(), options.maxQueuedRequests(), metrics);
        if (options.warmUp()) {
            try {
                scheduler.warmUp();
            } catch (InterruptedException e) {
                // Asked to stop while starting: the server starts cold, and whoever interrupted sees the flag.
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                // The model cannot evaluate (its compute buffers do not fit, say): said now rather than at the first request.
                scheduler.close();
                throw e;
            }
        }

        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("panllama-http");
        threads.setVirtualThreadsExecutor(Executors.newVirtualThreadPerTaskExecutor());
        Server jetty = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        ServerConnector connector = new ServerConnector(jetty, new HttpConnectionFactory(http));
        connector.setHost(options.host());
        connector.setPort(options.port());
        connector.setIdleTimeout(IDLE_TIMEOUT.toMillis());
        jetty.addConnector(connector);
        LogprobsJson logprobs = new LogprobsJson(model.tokenizer());
        CompletionEndpoint completions = new CompletionEndpoint(reader, scheduler, replies, logprobs);
        ResponsesEndpoint responses = new ResponsesEndpoint(reader, scheduler, logprobs, options.modelId());
        AnthropicEndpoint anthropic = new AnthropicEndpoint(reader, scheduler, options.modelId());
        EmbeddingEndpoints embeddings = new EmbeddingEndpoints(model, reader, options);
        OllamaReplies ollamaReplies = new OllamaReplies(model, chatFormat, options.modelId(), Instant.now());
        OllamaEndpoint ollama = new OllamaEndpoint(reader, scheduler, ollamaReplies, options.modelId());
        LlamaServerEndpoint llamaServer = new LlamaServerEndpoint(reader, scheduler, model, chatFormat, options);
        jetty.setHandler(new ApiHandler(options, completions, responses, anthropic, embeddings, llamaServer,
                new SlotEndpoints(scheduler, model, options), ollama, ollamaReplies, new TokenizerEndpoints(model.tokenizer()),
                reader, scheduler, metrics, replies, model.contextLength()));
        try {
            jetty.start();
        } catch (Exception e) {
            scheduler.close();
            embeddings.close();
            stopQuietly(jetty);
            String reason = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            throw new UncheckedIOException("cannot listen on " + options.host() + ":" + options.port() + ": " + reason,
                    e instanceof IOException io ? io : new IOException(e));
        }
        return new OpenAiServer(jetty, connector, scheduler, embeddings);
    }

    /** The port listened on (the one picked when the options said 0). */
    public int port() {
        return connector.getLocalPort();
    }

    /** Waits until the server is closed. */
    public void join() throws InterruptedException {
        jetty.join();
    }

    /** Stops listening, cancels the generation under way and fails the waiting requests. */
    @Override
    public void close() {
        scheduler.close();
        embeddings.close();
        stopQuietly(jetty);
    }

    private static void stopQuietly(Server jetty) {
        try {
            jetty.stop();
        } catch (Exception e) {
            // stopping frees sockets and threads; a failure here leaves nothing for the caller to do
        }
    }
}
