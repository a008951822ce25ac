package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.tokenizer.Tokenizer;

import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * llama-server's own {@code POST /completion} (and {@code /completions}), which llama.cpp's examples and
 * scripts call: the request is read as a text completion's ({@link RequestReader#completion}: {@code prompt}
 * as text or token ids, {@code n_predict}, {@code stop}, the sampling fields, {@code grammar},
 * {@code json_schema}, {@code cache_prompt}), and the reply is llama-server's JSON: {@code content}, {@code stop},
 * {@code stop_type} ({@code eos}, {@code word}, {@code limit}), {@code stopping_word}, the token counts and
 * {@code timings}, whole or streamed as server-sent events of {@code content} pieces, the last one with
 * {@code stop: true} and the rest, and no {@code [DONE]} (llama-server ends its own streams so).
 * {@code return_tokens} adds the generated ids; {@code n_probs} adds {@code completion_probabilities}
 * (each token's log probability and its {@code n_probs} most likely alternatives', up to
 * {@value TokenLogprobs#MAX_TOP}), of the whole reply or of each streamed piece's tokens.
 */
final class LlamaServerEndpoint {

    private final RequestReader reader;
    private final BatchScheduler scheduler;
    private final Tokenizer tokenizer;
    private final LogprobsJson logprobsJson;
    private final String modelId;

    LlamaServerEndpoint(RequestReader reader, BatchScheduler scheduler, Tokenizer tokenizer, String modelId) {
        this.reader = reader;
        this.scheduler = scheduler;
        this.tokenizer = tokenizer;
        this.logprobsJson = new LogprobsJson(tokenizer);
        this.modelId = modelId;
    }

    void serve(RequestFields body, Exchange exchange) throws IOException, InterruptedException {
        int probabilities = Math.toIntExact(body.integer("n_probs", 0, TokenLogprobs.MAX_TOP).orElse(0L));
        boolean returnTokens = body.bool("return_tokens", false);
        GenerationRequest request = reader.completion(body);
        if (probabilities > 0) {
            request = request.withLogprobs(probabilities);
        }
        if (!request.stream()) {
            GenerationRun.Whole reply = GenerationRun.whole(scheduler, request, exchange);
            Map<String, Object> whole = last(reply.generation(), reply.generation().text(), returnTokens);
            if (probabilities > 0) {
                whole.put("completion_probabilities", logprobsJson.llamaServer(reply.scores()));
            }
            exchange.json(200, whole);
            return;
        }
        GenerationRun.Outcome outcome = GenerationRun.streamed(scheduler, request, exchange, exchange::startEvents, piece -> {
            Map<String, Object> chunk = new LinkedHashMap<>();
            chunk.put("index", 0);
            chunk.put("content", piece.text());
            chunk.put("tokens", List.of());
            chunk.put("stop", false);
            if (probabilities > 0) {
                chunk.put("completion_probabilities", logprobsJson.llamaServer(piece.logprobs()));
            }
            exchange.event(chunk);
        });
        exchange.lastEvent(last(outcome.generation(), "", returnTokens));
    }

    /** The whole reply, or a stream's last event ({@code content} already sent: empty there). */
    private Map<String, Object> last(Generation generation, String content, boolean returnTokens) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("index", 0);
        body.put("content", content);
        body.put("tokens", returnTokens ? Arrays.stream(generation.generatedIds()).boxed().toList() : List.of());
        body.put("stop", true);
        body.put("model", modelId);
        body.put("tokens_predicted", generation.generatedIds().length);
        body.put("tokens_evaluated", generation.promptIds().length);
        body.put("prompt", tokenizer.decode(generation.promptIds()));
        body.put("has_new_line", generation.text().contains("\n"));
        body.put("truncated", false);
        body.put("stop_type", switch (generation.stopReason()) {
            case END_OF_TURN -> "eos";
            case STOP_STRING -> "word";
            case MAX_TOKENS, CONTEXT_FULL -> "limit";
            case CANCELLED, NO_VALID_TOKEN -> "none";
        });
        body.put("stopping_word", generation.stopString());
        body.put("tokens_cached", tokensCached(generation));
        body.put("timings", timings(generation));
        return body;
    }

    /**
     * The tokens of the sequence the cache holds once it ends: the prompt and every generated token that was
     * evaluated, which is all of them but the last unless the model ended its turn (the token that reached the
     * limit or completed a stop string is not evaluated, as in llama.cpp).
     */
    private static int tokensCached(Generation generation) {
        int generated = generation.generatedIds().length;
        boolean lastEvaluated = generation.stopReason() == Generation.StopReason.END_OF_TURN || generated == 0;
        return generation.promptIds().length + generated - (lastEvaluated ? 0 : 1);
    }

    /** llama-server's {@code timings}: the prompt tokens taken from the cache, and those evaluated and generated with their times. */
    private static Map<String, Object> timings(Generation generation) {
        Map<String, Object> timings = new LinkedHashMap<>();
        int generated = generation.generatedIds().length;
        timings.put("cache_n", generation.promptIds().length - generation.promptTokens());
        timings.put("prompt_n", generation.promptTokens());
        timings.put("prompt_ms", generation.promptMillis());
        timings.put("prompt_per_token_ms", generation.promptTokens() == 0 ? 0 : generation.promptMillis() / generation.promptTokens());
        timings.put("prompt_per_second", generation.promptTokensPerSecond());
        timings.put("predicted_n", generated);
        timings.put("predicted_ms", generation.generatedMillis());
        timings.put("predicted_per_token_ms", generated == 0 ? 0 : generation.generatedMillis() / generated);
        timings.put("predicted_per_second", generation.generatedTokensPerSecond());
        return timings;
    }
}
