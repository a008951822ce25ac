package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.PanllamaVersion;
import dev.panllama.chat.ChatFormat;
import dev.panllama.chat.JinjaChatFormat;
import dev.panllama.sampling.Dry;
import dev.panllama.sampling.Mirostat;
import dev.panllama.sampling.SamplerOrder;
import dev.panllama.sampling.SamplingOptions;
import dev.panllama.sampling.TokenFilters;
import dev.panllama.tokenizer.Tokenizer;
import dev.panllama.tokenizer.Vocabulary;

import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * llama-server's own API beside OpenAI's: {@code GET /props} (what front ends written for llama-server read:
 * the context, the slots, the default sampling settings under llama-server's names, the chat template), and
 * {@code POST /completion} (and {@code /completions}), which llama.cpp's examples and scripts call: the request is read as a text completion's ({@link RequestReader#completion}: {@code prompt}
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
    private final LlamaModel model;
    private final ChatFormat chatFormat;
    private final ServerOptions options;
    private final String modelId;

    LlamaServerEndpoint(RequestReader reader, BatchScheduler scheduler, LlamaModel model, ChatFormat chatFormat, ServerOptions options) {
        this.reader = reader;
        this.scheduler = scheduler;
        this.tokenizer = model.tokenizer();
        this.logprobsJson = new LogprobsJson(tokenizer);
        this.model = model;
        this.chatFormat = chatFormat;
        this.options = options;
        this.modelId = options.modelId();
    }

    /** {@code GET /props}: the served model's context, slots, chat template and tokens, and the sampling defaults a request starts from. */
    Map<String, Object> props() {
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("params", defaultParams());
        settings.put("n_ctx", model.contextLength());
        Map<String, Object> props = new LinkedHashMap<>();
        props.put("default_generation_settings", settings);
        props.put("total_slots", options.parallel());
        props.put("model_alias", modelId);
        props.put("modalities", Map.of("vision", false, "video", false, "audio", false));
        props.put("endpoint_slots", options.slots());
        props.put("endpoint_props", false);
        props.put("endpoint_metrics", true);
        props.put("chat_template", chatFormat instanceof JinjaChatFormat jinja ? asLlamaCppReads(jinja.template()) : "");
        Vocabulary vocabulary = model.vocabulary();
        props.put("bos_token", vocabulary.bos() == Vocabulary.NONE ? "" : vocabulary.text(vocabulary.bos()));
        props.put("eos_token", vocabulary.eos() == Vocabulary.NONE ? "" : vocabulary.text(vocabulary.eos()));
        props.put("build_info", "panllama " + PanllamaVersion.current());
        return props;
    }

    /** A template's text as llama.cpp's Jinja reads (and llama-server reports) it: line breaks as {@code \n}, one trailing line break dropped. */
    private static String asLlamaCppReads(String template) {
        String lines = template.replace("\r\n", "\n").replace('\r', '\n');
        return lines.endsWith("\n") ? lines.substring(0, lines.length() - 1) : lines;
    }

    /** The sampling settings of a request that sets none, under llama-server's names (llama.cpp's defaults, which {@link RequestReader} starts from). */
    private static Map<String, Object> defaultParams() {
        return params(SamplingOptions.defaults(0), -1, 0, false);
    }

    /**
     * Sampling settings under llama-server's names: {@code sampling}, the token limit
     * ({@code maxTokens}, -1 for none), the alternatives reported with each token's log probability and
     * whether the end-of-generation tokens are banned.
     */
    static Map<String, Object> params(SamplingOptions sampling, int maxTokens, int probabilities, boolean ignoreEos) {
        TokenFilters filters = sampling.filters();
        Dry dry = sampling.dry();
        Mirostat mirostat = sampling.mirostat();
        Map<String, Object> params = new LinkedHashMap<>();
        params.put("max_tokens", maxTokens);
        params.put("n_predict", maxTokens);
        params.put("temperature", sampling.temperature());
        params.put("dynatemp_range", sampling.dynamicTemperature().range());
        params.put("dynatemp_exponent", sampling.dynamicTemperature().exponent());
        params.put("top_k", sampling.topK());
        params.put("top_p", sampling.topP());
        params.put("min_p", sampling.minP());
        params.put("top_n_sigma", filters.topNSigma());
        params.put("xtc_probability", filters.xtcProbability());
        params.put("xtc_threshold", filters.xtcThreshold());
        params.put("typical_p", filters.typicalP());
        params.put("repeat_last_n", sampling.repeatLastN());
        params.put("repeat_penalty", sampling.repeatPenalty());
        params.put("presence_penalty", sampling.presencePenalty());
        params.put("frequency_penalty", sampling.frequencyPenalty());
        params.put("dry_multiplier", dry.multiplier());
        params.put("dry_base", dry.base());
        params.put("dry_allowed_length", dry.allowedLength());
        params.put("dry_penalty_last_n", dry.penaltyLastN());
        params.put("mirostat", mirostat.version());
        params.put("mirostat_tau", mirostat.tau());
        params.put("mirostat_eta", mirostat.eta());
        params.put("adaptive_target", sampling.adaptiveP().target());
        params.put("adaptive_decay", sampling.adaptiveP().decay());
        params.put("ignore_eos", ignoreEos);
        params.put("n_probs", probabilities);
        params.put("samplers", sampling.order().stages().stream().map(SamplerOrder.Stage::llamaName).toList());
        return params;
    }

    /** {@code POST /completion}. */
    void serve(RequestFields body, Exchange exchange) throws IOException, InterruptedException {
        reply(body, reader.completion(body), exchange);
    }

    /** {@code POST /infill}: a completion of the fill-in-the-middle prompt ({@link InfillPrompt}), answered as {@code /completion}. */
    void infill(RequestFields body, Exchange exchange) throws IOException, InterruptedException {
        reply(body, reader.infill(body), exchange);
    }

    private void reply(RequestFields body, GenerationRequest completion, Exchange exchange) throws IOException, InterruptedException {
        if (completion.choices() != 1) {
            throw ApiException.unsupported("Only 'n' = 1 is supported by /completion; /v1/completions and /v1/chat/completions take more.", "n");
        }
        int probabilities = Math.toIntExact(body.integer("n_probs", 0, TokenLogprobs.MAX_TOP).orElse(0L));
        boolean returnTokens = body.bool("return_tokens", false);
        GenerationRequest request = completion;
        if (probabilities > 0) {
            request = request.withLogprobs(probabilities);
        }
        if (!request.stream()) {
            GenerationRun.Whole reply = GenerationRun.whole(scheduler, request, exchange);
            Map<String, Object> whole = last(reply.generation(), reply.slot(), reply.generation().text(), returnTokens);
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
        exchange.lastEvent(last(outcome.generation(), outcome.slot(), "", returnTokens));
    }

    /** The whole reply, or a stream's last event ({@code content} already sent: empty there), of a generation in {@code slot}. */
    private Map<String, Object> last(Generation generation, int slot, String content, boolean returnTokens) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("index", 0);
        body.put("content", content);
        body.put("id_slot", slot);
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
