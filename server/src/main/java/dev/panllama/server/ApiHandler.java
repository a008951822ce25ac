package dev.panllama.server;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Routes every request: answers the browser preflights of the origins {@code --cors-origins} allows ({@link CorsPolicy}),
 * checks the API key, the method and the body's size, hands generation requests
 * to the {@link CompletionEndpoint} (OpenAI's API, also without {@code /v1} as llama-server serves it), the
 * {@link ResponsesEndpoint} (OpenAI's Responses API; both APIs also count a request's input tokens, as llama-server does), the
 * {@link AnthropicEndpoint} (Anthropic's Messages API), the {@link EmbeddingEndpoints} (embeddings in OpenAI's, llama-server's and
 * Ollama's shapes),
 * the {@link LlamaServerEndpoint} (llama-server's own {@code /completion}; it answers {@code /props} too), the {@link SlotEndpoints}
 * (llama-server's {@code /slots}) or the {@link OllamaEndpoint}
 * (Ollama's, under {@code /api/}), answers {@code /health}, {@code /metrics}, {@code /v1/models}, Ollama's
 * model listings and version, and llama-server's {@code /tokenize}, {@code /detokenize} and
 * {@code /apply-template}, and turns whatever goes wrong into the error JSON of the API asked
 * (OpenAI's, Anthropic's, or Ollama's {@code {"error": message}}) with its status, so that one bad request never
 * stops the server. Blocking: Jetty runs it on a virtual thread.
 */
final class ApiHandler extends Handler.Abstract {

    /** The status logged for a request whose client went away before its reply (nginx's convention). */
    private static final int CLIENT_GONE = 499;
    private static final Logger LOG = Logger.getLogger(ApiHandler.class.getName());
    /** Where Anthropic's clients send the API key. */
    private static final String API_KEY_HEADER = "x-api-key";

    private final ServerOptions options;
    private final CorsPolicy cors;
    private final CompletionEndpoint completions;
    private final ResponsesEndpoint responses;
    private final AnthropicEndpoint anthropic;
    private final EmbeddingEndpoints embeddings;
    private final OllamaEndpoint ollama;
    private final LlamaServerEndpoint llamaServer;
    private final SlotEndpoints slots;
    private final TokenizerEndpoints tokenizer;
    private final RequestReader reader;
    private final OllamaReplies ollamaReplies;
    private final BatchScheduler scheduler;
    private final ServerMetrics metrics;
    private final Replies replies;
    private final int contextLength;

    ApiHandler(ServerOptions options, CompletionEndpoint completions, ResponsesEndpoint responses, AnthropicEndpoint anthropic,
               EmbeddingEndpoints embeddings, LlamaServerEndpoint llamaServer, SlotEndpoints slots, OllamaEndpoint ollama,
               OllamaReplies ollamaReplies, TokenizerEndpoints tokenizer, RequestReader reader, BatchScheduler scheduler,
               ServerMetrics metrics, Replies replies, int contextLength) {
        this.options = options;
        this.cors = new CorsPolicy(options.corsOrigins());
        this.completions = completions;
        this.responses = responses;
        this.anthropic = anthropic;
        this.embeddings = embeddings;
        this.llamaServer = llamaServer;
        this.slots = slots;
        this.ollama = ollama;
        this.tokenizer = tokenizer;
        this.reader = reader;
        this.ollamaReplies = ollamaReplies;
        this.scheduler = scheduler;
        this.metrics = metrics;
        this.replies = replies;
        this.contextLength = contextLength;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        Exchange exchange = new Exchange(request, response);
        String path = Request.getPathInContext(request);
        if (allowCrossOrigin(request, response)) {
            // A browser's preflight, answered without the API key, which browsers leave out of it.
            response.setStatus(204);
            callback.succeeded();
            metrics.request(endpoint(path), 204);
            return true;
        }
        int status;
        try {
            route(exchange, request.getMethod(), path);
            status = exchange.status();
            callback.succeeded();
        } catch (ApiException e) {
            status = refuse(exchange, e, path, callback);
        } catch (IOException | CancellationException e) {
            status = CLIENT_GONE;
            callback.failed(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            status = CLIENT_GONE;
            callback.failed(e);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, request.getMethod() + " " + path + " failed: " + e);
            status = refuse(exchange, new ApiException(500, "server_error", "The server failed to generate: " + message(e), null, null),
                    path, callback);
        }
        metrics.request(endpoint(path), status);
        return true;
    }

    private void route(Exchange exchange, String method, String path) throws IOException, InterruptedException {
        switch (path) {
            case "/health", "/v1/health" -> {
                requireMethod(method, "GET", path);
                exchange.json(200, Map.of("status", "ok"));
            }
            case "/metrics" -> {
                authorize(exchange);
                requireMethod(method, "GET", path);
                exchange.text(200, "text/plain; version=0.0.4; charset=utf-8",
                        metrics.render(scheduler.waitingCount(), scheduler.runningCount(), scheduler.cachedTokens(), scheduler.cacheBytes(),
                                contextLength));
            }
            case "/v1/models", "/models" -> {
                authorize(exchange);
                requireMethod(method, "GET", path);
                exchange.json(200, replies.models());
            }
            case "/v1/chat/completions", "/chat/completions", "/v1/completions" -> {
                authorize(exchange);
                requireMethod(method, "POST", path);
                RequestFields body = RequestFields.parse(exchange.body(options.maxBodyBytes()));
                completions.serve(path.equals("/v1/completions") ? CompletionEndpoint.Kind.TEXT : CompletionEndpoint.Kind.CHAT,
                        body, exchange);
            }
            case "/v1/responses", "/responses" -> {
                authorize(exchange);
                requireMethod(method, "POST", path);
                responses.serve(RequestFields.parse(exchange.body(options.maxBodyBytes())), exchange);
            }
            case "/v1/responses/input_tokens", "/responses/input_tokens", "/v1/chat/completions/input_tokens",
                 "/chat/completions/input_tokens" -> {
                authorize(exchange);
                requireMethod(method, "POST", path);
                RequestFields body = RequestFields.parse(exchange.body(options.maxBodyBytes()));
                GenerationRequest request = reader.chatAsText(path.contains("/responses") ? ResponsesRequests.chat(body) : body);
                // llama-server's answer, for either API.
                Map<String, Object> count = new LinkedHashMap<>();
                count.put("object", "response.input_tokens");
                count.put("input_tokens", request.prompt().length);
                exchange.json(200, count);
            }
            case "/v1/messages" -> {
                authorize(exchange);
                requireMethod(method, "POST", path);
                anthropic.serve(RequestFields.parse(exchange.body(options.maxBodyBytes())), exchange);
            }
            case "/v1/messages/count_tokens" -> {
                authorize(exchange);
                requireMethod(method, "POST", path);
                exchange.json(200, anthropic.countTokens(RequestFields.parse(exchange.body(options.maxBodyBytes()))));
            }
            case "/v1/embeddings", "/embeddings", "/embedding", "/api/embed", "/api/embeddings" -> {
                authorize(exchange);
                requireMethod(method, "POST", path);
                RequestFields body = RequestFields.parse(exchange.body(options.maxBodyBytes()));
                switch (path) {
                    case "/v1/embeddings" -> exchange.json(200, embeddings.openAi(body));
                    case "/api/embed" -> exchange.json(200, embeddings.ollamaEmbed(body));
                    case "/api/embeddings" -> exchange.json(200, embeddings.ollamaEmbeddings(body));
                    default -> exchange.jsonArray(200, embeddings.llamaServer(body));
                }
            }
            case "/props" -> {
                authorize(exchange);
                requireMethod(method, "GET", path);
                exchange.json(200, llamaServer.props());
            }
            case "/slots" -> {
                authorize(exchange);
                requireMethod(method, "GET", path);
                String failOnNoSlot = Request.extractQueryParameters(exchange.request()).getValue("fail_on_no_slot");
                exchange.jsonArray(200, slots.report(failOnNoSlot != null && !failOnNoSlot.isEmpty()));
            }
            case "/completion", "/completions" -> {
                authorize(exchange);
                requireMethod(method, "POST", path);
                llamaServer.serve(RequestFields.parse(exchange.body(options.maxBodyBytes())), exchange);
            }
            case "/infill" -> {
                authorize(exchange);
                requireMethod(method, "POST", path);
                llamaServer.infill(RequestFields.parse(exchange.body(options.maxBodyBytes())), exchange);
            }
            case "/tokenize", "/detokenize", "/apply-template" -> {
                authorize(exchange);
                requireMethod(method, "POST", path);
                RequestFields body = RequestFields.parse(exchange.body(options.maxBodyBytes()));
                exchange.json(200, switch (path) {
                    case "/tokenize" -> tokenizer.tokenize(body);
                    case "/detokenize" -> tokenizer.detokenize(body);
                    default -> Map.of("prompt", reader.chatPrompt(body));
                });
            }
            case "/api/chat", "/api/generate" -> {
                authorize(exchange);
                requireMethod(method, "POST", path);
                RequestFields body = RequestFields.parse(exchange.body(options.maxBodyBytes()));
                ollama.serve(path.equals("/api/chat") ? OllamaReplies.Kind.CHAT : OllamaReplies.Kind.GENERATE, body, exchange);
            }
            case "/api/tags" -> {
                authorize(exchange);
                requireMethod(method, "GET", path);
                exchange.json(200, ollamaReplies.tags());
            }
            case "/api/ps" -> {
                authorize(exchange);
                requireMethod(method, "GET", path);
                exchange.json(200, ollamaReplies.running());
            }
            case "/api/version" -> {
                // Unauthenticated, as /health: clients probe it to learn whether a server is there.
                requireMethod(method, "GET", path);
                exchange.json(200, OllamaReplies.version());
            }
            case "/api/show" -> {
                authorize(exchange);
                requireMethod(method, "POST", path);
                RequestFields body = RequestFields.parse(exchange.body(options.maxBodyBytes()));
                String name = body.string("model").or(() -> body.string("name")).orElseThrow(() -> ApiException.missing("model"));
                OllamaRequests.requireServed(name, options.modelId());
                exchange.json(200, ollamaReplies.show());
            }
            default -> {
                if (path.startsWith("/slots/")) {
                    authorize(exchange);
                    requireMethod(method, "POST", path);
                    String action = Request.extractQueryParameters(exchange.request()).getValue("action");
                    byte[] bytes = exchange.body(options.maxBodyBytes());
                    // An erase sends no body.
                    RequestFields body = bytes.length == 0 ? RequestFields.of(Map.of()) : RequestFields.parse(bytes);
                    exchange.json(200, slots.act(path.substring("/slots/".length()), action, body));
                    return;
                }
                if (!path.startsWith("/v1/models/")) {
                    throw new ApiException(404, "invalid_request_error", "Unknown request URL: " + method + " " + path + ".", null,
                            "unknown_url");
                }
                authorize(exchange);
                requireMethod(method, "GET", path);
                String id = URLDecoder.decode(path.substring("/v1/models/".length()), StandardCharsets.UTF_8);
                if (!id.equals(options.modelId())) {
                    throw ApiException.modelNotFound(id, options.modelId());
                }
                exchange.json(200, replies.model());
            }
        }
    }

    /**
     * Gives a request from an origin {@code --cors-origins} allows the header that lets its page read the reply;
     * true when the request is that origin's preflight, which this has answered.
     */
    private boolean allowCrossOrigin(Request request, Response response) {
        String origin = request.getHeaders().get(HttpHeader.ORIGIN);
        String allowed = cors.allowOrigin(origin);
        if (allowed == null) {
            return false;
        }
        response.getHeaders().put("Access-Control-Allow-Origin", allowed);
        if (!allowed.equals("*")) {
            response.getHeaders().add(HttpHeader.VARY, "Origin");
        }
        if (!request.getMethod().equals("OPTIONS") || origin == null) {
            return false;
        }
        response.getHeaders().put("Access-Control-Allow-Methods", CorsPolicy.METHODS);
        // The headers it asks for, Authorization among them: a wildcard would not cover that one.
        String asked = request.getHeaders().get("Access-Control-Request-Headers");
        response.getHeaders().put("Access-Control-Allow-Headers", asked != null ? asked : "Authorization, Content-Type, x-api-key");
        response.getHeaders().put("Access-Control-Max-Age", "600");
        return true;
    }

    /**
     * Checks the API key, when the server has any: one of them, given as OpenAI's clients give it,
     * {@code Authorization: Bearer KEY}, or as Anthropic's do, {@code x-api-key: KEY} (llama-server takes both).
     */
    private void authorize(Exchange exchange) {
        if (options.apiKeys().isEmpty()) {
            return;
        }
        String bearer = exchange.request().getHeaders().get(HttpHeader.AUTHORIZATION);
        String given = bearer != null && bearer.startsWith("Bearer ") ? bearer.substring("Bearer ".length()).trim()
                : exchange.request().getHeaders().get(API_KEY_HEADER);
        if (given == null) {
            exchange.header(HttpHeader.WWW_AUTHENTICATE, "Bearer");
            throw new ApiException(401, "invalid_request_error", "You didn't provide an API key: send it as 'Authorization: Bearer KEY'"
                    + " (or 'x-api-key: KEY').", null, "invalid_api_key");
        }
        byte[] givenBytes = given.getBytes(StandardCharsets.UTF_8);
        // Every key compared, each in constant time: how long the check takes tells nothing of which key is near.
        boolean known = false;
        for (String key : options.apiKeys()) {
            known |= MessageDigest.isEqual(givenBytes, key.getBytes(StandardCharsets.UTF_8));
        }
        if (!known) {
            exchange.header(HttpHeader.WWW_AUTHENTICATE, "Bearer");
            throw new ApiException(401, "invalid_request_error", "Incorrect API key provided.", null, "invalid_api_key");
        }
    }

    private static void requireMethod(String method, String expected, String path) {
        if (!method.equals(expected)) {
            throw new ApiException(405, "invalid_request_error", "Method " + method + " is not allowed for " + path + "; use "
                    + expected + ".", null, "method_not_allowed");
        }
    }

    /**
     * Answers with the error: as JSON, or as the last event or line when a stream has begun; under
     * {@code /api/} as Ollama writes errors, under {@code /v1/messages} as Anthropic does.
     */
    private static int refuse(Exchange exchange, ApiException error, String path, Callback callback) {
        exchange.discardBody();
        boolean anthropic = path.startsWith("/v1/messages");
        Map<String, Object> body;
        if (path.startsWith("/api/")) {
            body = Map.of("error", error.getMessage());
        } else if (anthropic) {
            body = new LinkedHashMap<>();
            body.put("type", "error");
            body.putAll(error.anthropicError());
        } else {
            body = error.body();
        }
        try {
            switch (exchange.streaming()) {
                case EVENTS -> {
                    exchange.event(body);
                    exchange.endEvents();
                }
                case TYPED_EVENTS -> exchange.typedEvent("error", anthropic ? error.anthropicError() : error.eventFields(), true);
                case LINES -> exchange.endLines(body);
                case NONE -> exchange.json(error.status(), body);
            }
            callback.succeeded();
            return error.status();
        } catch (IOException e) {
            callback.failed(e);
            return CLIENT_GONE;
        }
    }

    private static String endpoint(String path) {
        return switch (path) {
            case "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions", "/v1/responses",
                 "/v1/responses/input_tokens", "/v1/chat/completions/input_tokens", "/v1/messages", "/v1/messages/count_tokens",
                 "/v1/embeddings", "/embedding", "/api/embed", "/api/embeddings", "/completion", "/infill", "/props",
                 "/api/chat", "/api/generate", "/api/tags", "/api/show", "/api/ps", "/api/version",
                 "/tokenize", "/detokenize", "/apply-template", "/slots" -> path;
            case "/v1/health" -> "/health";
            case "/models" -> "/v1/models";
            case "/chat/completions" -> "/v1/chat/completions";
            case "/completions" -> "/completion";
            case "/responses" -> "/v1/responses";
            case "/responses/input_tokens" -> "/v1/responses/input_tokens";
            case "/chat/completions/input_tokens" -> "/v1/chat/completions/input_tokens";
            case "/embeddings" -> "/embedding";
            default -> path.startsWith("/v1/models/") ? "/v1/models/{id}" : path.startsWith("/slots/") ? "/slots/{id}" : "other";
        };
    }

    private static String message(Exception e) {
        return e.getMessage() == null || e.getMessage().isBlank() ? e.getClass().getSimpleName() : e.getMessage();
    }
}
