package dev.panllama.server;

import dev.panllama.api.Embedder;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * How the server listens and what it accepts. Safe by default: it binds to the loopback address, and
 * bounds the body of a request, the prompt and the requests waiting for the model.
 *
 * @param host              the address to bind to; 127.0.0.1 unless the user asks for another
 * @param port              the TCP port; 0 picks a free one (see {@link OpenAiServer#port()})
 * @param apiKeys           the keys a request may bring as {@code Authorization: Bearer KEY}, one of which every request
 *                          but {@code /health}'s must; empty for none
 * @param modelId           the name the model is served under ({@code /v1/models}, the requests' {@code model})
 * @param maxBodyBytes      the largest request body read
 * @param maxPromptTokens   the longest prompt accepted, in tokens; 0 for as many as the context holds
 * @param maxQueuedRequests requests that may wait while {@code parallel} are generated; past that a request gets 429
 * @param parallel          requests generated together, in one batch per step (llama.cpp's {@code --parallel});
 *                          they share the context, as llama.cpp's unified KV cache does
 * @param pooling           how the embedding endpoints pool a text's hidden states (llama.cpp's {@code --pooling})
 * @param reasoning         what becomes of a chat reply's reasoning where a request does not say
 * @param spmInfill         whether {@code /infill} lays its prompt out suffix first (llama.cpp's {@code --spm-infill}),
 *                          as some code models were trained, rather than prefix first
 * @param slots             whether {@code GET /slots} reports what each slot is doing (llama.cpp's {@code --slots}, on by default)
 * @param slotSavePath      the folder {@code POST /slots/{id}} saves slots' caches into and restores them from
 *                          (llama.cpp's {@code --slot-save-path}); null: those actions are refused
 * @param warmUp            whether the model evaluates a token or two before the server listens (llama.cpp's warm-up run,
 *                          {@code --no-warmup} to skip it), so that the first request does not pay for the first graph
 * @param corsOrigins       the origins whose web pages may call the server from a browser (llama.cpp's {@code --cors-origins}:
 *                          origins, {@code localhost} or {@code *}); empty, the default, for none
 */
public record ServerOptions(String host, int port, List<String> apiKeys, String modelId, long maxBodyBytes,
                            int maxPromptTokens, int maxQueuedRequests, int parallel, Embedder.Pooling pooling,
                            ChatReasoning reasoning, boolean spmInfill, boolean slots, Path slotSavePath, boolean warmUp,
                            List<String> corsOrigins) {

    public static final String LOOPBACK = "127.0.0.1";
    public static final int DEFAULT_PORT = 8080;
    public static final long DEFAULT_MAX_BODY_BYTES = 4L << 20;
    public static final int DEFAULT_MAX_QUEUED_REQUESTS = 16;
    /**
     * llama-server's default ({@code --parallel} auto is 4 with its unified cache): the slots share the
     * context, so an idle one costs no memory, and four clients at once are served together rather than
     * in turn. 1 gives the strict arrival order of one sequence at a time.
     */
    public static final int DEFAULT_PARALLEL = 4;

    public ServerOptions {
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("--host must name an address");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--port must be within [0, 65535], not " + port);
        }
        apiKeys = List.copyOf(apiKeys);
        if (apiKeys.stream().anyMatch(String::isBlank)) {
            throw new IllegalArgumentException("--api-key cannot be blank");
        }
        if (modelId == null || modelId.isBlank()) {
            throw new IllegalArgumentException("--alias cannot be blank");
        }
        if (maxBodyBytes < 1) {
            throw new IllegalArgumentException("--max-body-bytes must be 1 or more, not " + maxBodyBytes);
        }
        if (maxPromptTokens < 0) {
            throw new IllegalArgumentException("--max-prompt-tokens must be 0 (the context) or more, not " + maxPromptTokens);
        }
        if (maxQueuedRequests < 0) {
            throw new IllegalArgumentException("--max-queue must be 0 or more, not " + maxQueuedRequests);
        }
        if (parallel < 1) {
            throw new IllegalArgumentException("--parallel must be 1 or more, not " + parallel);
        }
        Objects.requireNonNull(pooling, "pooling");
        Objects.requireNonNull(reasoning, "reasoning");
        corsOrigins = new CorsPolicy(corsOrigins).origins();
        if (slotSavePath != null && !Files.isDirectory(slotSavePath)) {
            throw new IllegalArgumentException("--slot-save-path must be a folder that exists, not " + slotSavePath);
        }
    }

    /**
     * Loopback, port 8080, no key, 4 MiB bodies, prompts as long as the context, 16 waiting requests, 4 generated
     * together, embeddings of mean pooling, reasoning apart and unbounded, {@code /slots} on, no slot saving, a warm-up run, no other origins.
     */
    public static ServerOptions defaults(String modelId) {
        return new ServerOptions(LOOPBACK, DEFAULT_PORT, List.of(), modelId, DEFAULT_MAX_BODY_BYTES, 0, DEFAULT_MAX_QUEUED_REQUESTS,
                DEFAULT_PARALLEL, Embedder.Pooling.MEAN, ChatReasoning.DEFAULT, false, true, null, true, List.of());
    }

    public ServerOptions withHost(String value) {
        return new ServerOptions(value, port, apiKeys, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests, parallel, pooling, reasoning, spmInfill, slots, slotSavePath, warmUp, corsOrigins);
    }

    public ServerOptions withPort(int value) {
        return new ServerOptions(host, value, apiKeys, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests, parallel, pooling, reasoning, spmInfill, slots, slotSavePath, warmUp, corsOrigins);
    }

    /** Options that take one key. */
    public ServerOptions withApiKey(String value) {
        return withApiKeys(List.of(value));
    }

    public ServerOptions withApiKeys(List<String> value) {
        return new ServerOptions(host, port, value, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests, parallel, pooling, reasoning, spmInfill, slots, slotSavePath, warmUp, corsOrigins);
    }

    public ServerOptions withMaxBodyBytes(long value) {
        return new ServerOptions(host, port, apiKeys, modelId, value, maxPromptTokens, maxQueuedRequests, parallel, pooling, reasoning, spmInfill, slots, slotSavePath, warmUp, corsOrigins);
    }

    public ServerOptions withMaxPromptTokens(int value) {
        return new ServerOptions(host, port, apiKeys, modelId, maxBodyBytes, value, maxQueuedRequests, parallel, pooling, reasoning, spmInfill, slots, slotSavePath, warmUp, corsOrigins);
    }

    public ServerOptions withMaxQueuedRequests(int value) {
        return new ServerOptions(host, port, apiKeys, modelId, maxBodyBytes, maxPromptTokens, value, parallel, pooling, reasoning, spmInfill, slots, slotSavePath, warmUp, corsOrigins);
    }

    public ServerOptions withPooling(Embedder.Pooling value) {
        return new ServerOptions(host, port, apiKeys, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests, parallel, value, reasoning, spmInfill, slots, slotSavePath, warmUp, corsOrigins);
    }

    public ServerOptions withParallel(int value) {
        return new ServerOptions(host, port, apiKeys, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests, value, pooling, reasoning, spmInfill, slots, slotSavePath, warmUp, corsOrigins);
    }

    public ServerOptions withReasoning(ChatReasoning value) {
        return new ServerOptions(host, port, apiKeys, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests, parallel, pooling, value, spmInfill, slots, slotSavePath, warmUp, corsOrigins);
    }

    public ServerOptions withSpmInfill(boolean value) {
        return new ServerOptions(host, port, apiKeys, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests, parallel, pooling, reasoning, value, slots, slotSavePath, warmUp, corsOrigins);
    }

    public ServerOptions withSlotSavePath(Path value) {
        return new ServerOptions(host, port, apiKeys, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests, parallel, pooling, reasoning, spmInfill, slots, value, warmUp, corsOrigins);
    }

    public ServerOptions withWarmUp(boolean value) {
        return new ServerOptions(host, port, apiKeys, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests, parallel, pooling, reasoning, spmInfill, slots,
                slotSavePath, value, corsOrigins);
    }

    public ServerOptions withCorsOrigins(List<String> value) {
        return new ServerOptions(host, port, apiKeys, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests, parallel, pooling, reasoning, spmInfill, slots,
                slotSavePath, warmUp, value);
    }

    public ServerOptions withSlots(boolean value) {
        return new ServerOptions(host, port, apiKeys, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests, parallel, pooling, reasoning, spmInfill, value, slotSavePath, warmUp, corsOrigins);
    }
}
