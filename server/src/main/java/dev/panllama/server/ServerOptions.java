package dev.panllama.server;

/**
 * How the server listens and what it accepts. Safe by default: it binds to the loopback address, and
 * bounds the body of a request, the prompt and the requests waiting for the model.
 *
 * @param host              the address to bind to; 127.0.0.1 unless the user asks for another
 * @param port              the TCP port; 0 picks a free one (see {@link OpenAiServer#port()})
 * @param apiKey            the key every request must bring as {@code Authorization: Bearer KEY}; null for none
 * @param modelId           the name the model is served under ({@code /v1/models}, the requests' {@code model})
 * @param maxBodyBytes      the largest request body read
 * @param maxPromptTokens   the longest prompt accepted, in tokens; 0 for as many as the context holds
 * @param maxQueuedRequests requests that may wait while one is generated; past that a request gets 429
 */
public record ServerOptions(String host, int port, String apiKey, String modelId, long maxBodyBytes,
                            int maxPromptTokens, int maxQueuedRequests) {

    public static final String LOOPBACK = "127.0.0.1";
    public static final int DEFAULT_PORT = 8080;
    public static final long DEFAULT_MAX_BODY_BYTES = 4L << 20;
    public static final int DEFAULT_MAX_QUEUED_REQUESTS = 16;

    public ServerOptions {
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("--host must name an address");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--port must be within [0, 65535], not " + port);
        }
        if (apiKey != null && apiKey.isBlank()) {
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
    }

    /** Loopback, port 8080, no key, 4 MiB bodies, prompts as long as the context, 16 waiting requests. */
    public static ServerOptions defaults(String modelId) {
        return new ServerOptions(LOOPBACK, DEFAULT_PORT, null, modelId, DEFAULT_MAX_BODY_BYTES, 0, DEFAULT_MAX_QUEUED_REQUESTS);
    }

    public ServerOptions withHost(String value) {
        return new ServerOptions(value, port, apiKey, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests);
    }

    public ServerOptions withPort(int value) {
        return new ServerOptions(host, value, apiKey, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests);
    }

    public ServerOptions withApiKey(String value) {
        return new ServerOptions(host, port, value, modelId, maxBodyBytes, maxPromptTokens, maxQueuedRequests);
    }

    public ServerOptions withMaxBodyBytes(long value) {
        return new ServerOptions(host, port, apiKey, modelId, value, maxPromptTokens, maxQueuedRequests);
    }

    public ServerOptions withMaxPromptTokens(int value) {
        return new ServerOptions(host, port, apiKey, modelId, maxBodyBytes, value, maxQueuedRequests);
    }

    public ServerOptions withMaxQueuedRequests(int value) {
        return new ServerOptions(host, port, apiKey, modelId, maxBodyBytes, maxPromptTokens, value);
    }
}
