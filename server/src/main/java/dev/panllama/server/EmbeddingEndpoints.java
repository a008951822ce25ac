package dev.panllama.server;

import dev.panllama.api.Embedder;
import dev.panllama.api.LlamaModel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Embeddings of texts, in three APIs' shapes: OpenAI's {@code /v1/embeddings} ({@code input} a text, texts,
 * token ids or lists of them; {@code encoding_format} float or base64), llama-server's own {@code /embedding}
 * ({@code content} or {@code input}; a list of {@code {index, embedding: [[...]]}}), and Ollama's
 * {@code /api/embed} ({@code input} a text or texts; {@code truncate}, on by default, cuts an input to the
 * context) and {@code /api/embeddings} ({@code prompt}; one {@code embedding}). Each text is pooled as the
 * server's {@link ServerOptions#pooling()} says and normalized to Euclidean length 1 (llama-server's
 * {@code embd_normalize} changes that). The {@link Embedder} is made at the first request: a KV cache of
 * its own, whose memory is committed as it is written; its evaluation takes turns with the generation's.
 */
final class EmbeddingEndpoints implements AutoCloseable {

    private final LlamaModel model;
    private final RequestReader reader;
    private final ServerOptions options;
    private final int inputLimit;
    private Embedder embedder;
    private boolean closed;

    EmbeddingEndpoints(LlamaModel model, RequestReader reader, ServerOptions options) {
        this.model = model;
        this.reader = reader;
        this.options = options;
        int context = model.contextLength();
        this.inputLimit = options.maxPromptTokens() > 0 ? Math.min(options.maxPromptTokens(), context) : context;
    }

    /** OpenAI's {@code /v1/embeddings}. */
    Map<String, Object> openAi(RequestFields body) {
        reader.checkModel(body);
        String format = body.string("encoding_format").orElse("float");
        if (!format.equals("float") && !format.equals("base64")) {
            throw ApiException.invalid("Invalid value for 'encoding_format': '" + format + "'; it must be float or base64.", "encoding_format");
        }
        body.integer("dimensions", 1, Integer.MAX_VALUE).filter(d -> d != embedder().dimensions()).ifPresent(d -> {
            throw ApiException.unsupported("'dimensions' other than the model's " + embedder().dimensions() + " is not supported.",
                    "dimensions");
        });
        List<int[]> inputs = openAiInputs(body.raw("input"));
        List<float[]> vectors = embed(inputs, Embedder.EUCLIDEAN, "input");
        List<Map<String, Object>> data = new ArrayList<>();
        for (int i = 0; i < vectors.size(); i++) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("object", "embedding");
            entry.put("index", i);
            entry.put("embedding", format.equals("base64") ? base64(vectors.get(i)) : vectors.get(i));
            data.add(entry);
        }
        int tokens = inputs.stream().mapToInt(input -> input.length).sum();
        Map<String, Object> reply = new LinkedHashMap<>();
        reply.put("object", "list");
        reply.put("data", data);
        reply.put("model", options.modelId());
        reply.put("usage", Map.of("prompt_tokens", tokens, "total_tokens", tokens));
        return reply;
    }

    /** llama-server's {@code /embedding}: {@code content} (or {@code input}), each embedding in a list of its own. */
    List<Map<String, Object>> llamaServer(RequestFields body) {
        Object given = body.has("content") ? body.raw("content") : body.raw("input");
        if (given == null) {
            throw ApiException.missing("content");
        }
        int normalize = Math.toIntExact(body.integer("embd_normalize", -1, Integer.MAX_VALUE).orElse((long) Embedder.EUCLIDEAN));
        List<float[]> vectors = embed(openAiInputs(given), normalize, "content");
        List<Map<String, Object>> reply = new ArrayList<>();
        for (int i = 0; i < vectors.size(); i++) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("index", i);
            entry.put("embedding", List.of(vectors.get(i)));
            reply.add(entry);
        }
        return reply;
    }

    /** Ollama's {@code /api/embed}. */
    Map<String, Object> ollamaEmbed(RequestFields body) {
        long started = System.nanoTime();
        OllamaRequests.requireServed(body.requiredString("model"), options.modelId());
        Object input = body.raw("input");
        List<String> texts = new ArrayList<>();
        if (input instanceof String text) {
            texts.add(text);
        } else if (input instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) {
                if (!(list.get(i) instanceof String text)) {
                    throw RequestFields.wrongType("input[" + i + "]", "a string");
                }
                texts.add(text);
            }
        } else {
            throw input == null ? ApiException.missing("input") : RequestFields.wrongType("input", "a string or an array of strings");
        }
        boolean truncate = body.bool("truncate", true);
        List<int[]> inputs = new ArrayList<>();
        for (String text : texts) {
            int[] tokens = tokens(text, "input");
            inputs.add(truncate && tokens.length > inputLimit ? Arrays.copyOf(tokens, inputLimit) : tokens);
        }
        List<float[]> vectors = embed(inputs, Embedder.EUCLIDEAN, "input");
        Map<String, Object> reply = new LinkedHashMap<>();
        reply.put("model", options.modelId());
        reply.put("embeddings", vectors);
        reply.put("total_duration", System.nanoTime() - started);
        reply.put("load_duration", 0);
        reply.put("prompt_eval_count", inputs.stream().mapToInt(tokens -> tokens.length).sum());
        return reply;
    }

    /** Ollama's older {@code /api/embeddings}: one {@code prompt}, one {@code embedding}. */
    Map<String, Object> ollamaEmbeddings(RequestFields body) {
        OllamaRequests.requireServed(body.requiredString("model"), options.modelId());
        String prompt = body.string("prompt").orElseThrow(() -> ApiException.missing("prompt"));
        return Map.of("embedding", embed(List.of(tokens(prompt, "prompt")), Embedder.EUCLIDEAN, "prompt").getFirst());
    }

    /** OpenAI's {@code input}: a text, texts, token ids, or lists of token ids. */
    private List<int[]> openAiInputs(Object input) {
        if (input == null) {
            throw ApiException.missing("input");
        }
        if (input instanceof String text) {
            return List.of(tokens(text, "input"));
        }
        if (!(input instanceof List<?> list) || list.isEmpty()) {
            throw RequestFields.wrongType("input", "a string, an array of strings, or an array of token ids or of arrays of them");
        }
        if (list.stream().allMatch(Number.class::isInstance)) {
            return List.of(ids(list, "input"));
        }
        List<int[]> inputs = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            Object item = list.get(i);
            if (item instanceof String text) {
                inputs.add(tokens(text, "input[" + i + "]"));
            } else if (item instanceof List<?> ids && ids.stream().allMatch(Number.class::isInstance)) {
                inputs.add(ids(ids, "input[" + i + "]"));
            } else {
                throw RequestFields.wrongType("input[" + i + "]", "a string or an array of token ids");
            }
        }
        return inputs;
    }

    private int[] tokens(String text, String param) {
        int[] tokens = model.tokenizer().encode(text, true, true);
        if (tokens.length == 0) {
            throw ApiException.invalid("'" + param + "' is empty.", param);
        }
        return tokens;
    }

    private int[] ids(List<?> list, String param) {
        int[] ids = RequestFields.tokenIds(list, model.vocabulary().size(), param);
        if (ids.length == 0) {
            throw ApiException.invalid("'" + param + "' is empty.", param);
        }
        return ids;
    }

    private List<float[]> embed(List<int[]> inputs, int normalize, String param) {
        for (int[] input : inputs) {
            if (input.length > inputLimit) {
                throw new ApiException(400, "invalid_request_error", "An input has " + input.length + " tokens, more than this server"
                        + " embeds at once (" + inputLimit + ").", param, "context_length_exceeded");
            }
        }
        try {
            return embedder().embedTokens(inputs, normalize);
        } catch (IllegalArgumentException invalid) {
            throw ApiException.invalid("The input cannot be embedded: " + invalid.getMessage() + ".", param);
        }
    }

    private synchronized Embedder embedder() {
        if (closed) {
            throw new ApiException(503, "server_error", "The server is shutting down.", null, "server_shutting_down");
        }
        if (embedder == null) {
            embedder = model.newEmbedder(options.pooling(), options.parallel());
        }
        return embedder;
    }

    /** OpenAI's base64 encoding: the floats' little-endian bytes. */
    private static String base64(float[] vector) {
        ByteBuffer bytes = ByteBuffer.allocate(4 * vector.length).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(vector);
        return Base64.getEncoder().encodeToString(bytes.array());
    }

    @Override
    public synchronized void close() {
        closed = true;
        if (embedder != null) {
            embedder.close();
        }
    }
}
