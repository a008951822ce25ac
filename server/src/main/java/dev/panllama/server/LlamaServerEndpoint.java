package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.PanllamaVersion;
import dev.panllama.chat.ChatFormat;
import dev.panllama.chat.JinjaChatFormat;
import dev.panllama.eval.SequenceState;
import dev.panllama.sampling.Dry;
import dev.panllama.sampling.Mirostat;
import dev.panllama.sampling.SamplerOrder;
import dev.panllama.sampling.SamplingOptions;
import dev.panllama.sampling.TokenFilters;
import dev.panllama.tokenizer.Tokenizer;
import dev.panllama.tokenizer.Vocabulary;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * llama-server's own API beside OpenAI's: {@code GET /props} (what front ends written for llama-server read:
 * the context, the slots, the default sampling settings under llama-server's names, the chat template),
 * {@code GET /slots} (what each slot is doing, for monitoring), {@code POST /slots/{id}} (a slot's cache saved, restored or
 * erased), and
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
    private static Map<String, Object> params(SamplingOptions sampling, int maxTokens, int probabilities, boolean ignoreEos) {
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

    /**
     * {@code GET /slots}: each slot as llama-server reports it by default: its number, the context, whether
     * it is generating, the tokens its cache holds, and of the request it serves or served last, the
     * prompt's token counts, the sampling settings and how far the generation is; no prompt or reply text.
     */
    List<Map<String, Object>> slots(List<SlotReport> reports) {
        List<Map<String, Object>> slots = new ArrayList<>();
        for (SlotReport report : reports) {
            Map<String, Object> slot = new LinkedHashMap<>();
            slot.put("id", report.slot());
            slot.put("n_ctx", model.contextLength());
            slot.put("speculative", false);
            slot.put("is_processing", report.processing());
            if (report.options() != null) {
                SamplingOptions sampling = report.options().sampling();
                Map<String, Object> params = new LinkedHashMap<>();
                params.put("seed", sampling.seed());
                params.putAll(params(sampling, report.options().maxTokens(), report.probabilities(), bansEndOfGeneration(sampling)));
                Map<String, Object> next = new LinkedHashMap<>();
                next.put("has_next_token", report.generating());
                next.put("has_new_line", report.newLine());
                next.put("n_remain", report.remaining());
                next.put("n_decoded", report.decoded());
                slot.put("id_task", report.request());
                slot.put("n_prompt_tokens", report.cachedTokens());
                slot.put("n_prompt_tokens_processed", report.promptEvaluated());
                slot.put("n_prompt_tokens_cache", report.promptCached());
                slot.put("params", params);
                slot.put("next_token", List.of(next));
            }
            slots.add(slot);
        }
        return slots;
    }

    /**
     * {@code POST /slots/{id}?action=...} (with {@code --slot-save-path}): {@code save} writes slot {@code id}'s
     * cells (its prompt cache) to the save folder's file named by the body's {@code filename}, {@code restore}
     * replaces them with such a file's (saved for this model and pin), {@code erase} empties them; each
     * waits until the slot is idle, as llama-server's, and answers as llama-server does.
     */
    Map<String, Object> slotAction(String id, String action, RequestFields body) throws InterruptedException {
        int slot;
        try {
            slot = Integer.parseInt(id);
        } catch (NumberFormatException e) {
            slot = -1;
        }
        if (slot < 0 || slot >= scheduler.slotCount()) {
            throw ApiException.invalid("Invalid slot ID", null);
        }
        Map<String, Object> reply = new LinkedHashMap<>();
        reply.put("id_slot", slot);
        long started = System.nanoTime();
        switch (action == null ? "" : action) {
            case "save" -> {
                String name = savedSlotName(body);
                SequenceState state = scheduler.saveSlot(slot);
                Path file = options.slotSavePath().resolve(name);
                try {
                    model.writeSequenceState(file, state);
                    reply.put("filename", name);
                    reply.put("n_saved", state.tokens().length);
                    reply.put("n_written", Files.size(file));
                } catch (IOException | UncheckedIOException e) {
                    throw new ApiException(500, "server_error", "Unable to save slot " + slot + " to " + name + ".", null, null);
                }
                reply.put("timings", Map.of("save_ms", (System.nanoTime() - started) / 1e6));
            }
            case "restore" -> {
                String name = savedSlotName(body);
                Path file = options.slotSavePath().resolve(name);
                try {
                    int restored = scheduler.restoreSlot(slot, model.readSequenceState(file));
                    reply.put("filename", name);
                    reply.put("n_restored", restored);
                    reply.put("n_read", Files.size(file));
                } catch (IllegalArgumentException | IOException | UncheckedIOException e) {
                    // The folder is the server's own: the client hears of the file by the name it gave.
                    String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
                    throw ApiException.invalid("Unable to restore slot: " + why.replace(file.toString(), name), "filename");
                }
                reply.put("timings", Map.of("restore_ms", (System.nanoTime() - started) / 1e6));
            }
            case "erase" -> reply.put("n_erased", scheduler.eraseSlot(slot));
            default -> throw ApiException.invalid("Invalid action", "action");
        }
        return reply;
    }

    /**
     * The body's {@code filename}: a plain file name in the save folder, as llama-server allows them (no
     * folders, control characters or characters that file systems refuse, not {@code .} or {@code ..}, at
     * most 255 bytes), nor a hidden name, which the saving's temporary files take.
     */
    private static String savedSlotName(RequestFields body) {
        String name = body.string("filename").orElseThrow(() -> ApiException.missing("filename"));
        boolean valid = !name.isEmpty() && name.getBytes(StandardCharsets.UTF_8).length <= 255
                && !name.startsWith(".") && !name.endsWith(" ") && !name.startsWith(" ")
                && name.codePoints().noneMatch(c -> c < 0x20 || c == 0x7f || "/\\:*?\"<>|".indexOf(c) >= 0
                        || Character.getType(c) == Character.SURROGATE || Character.getType(c) == Character.FORMAT);
        if (!valid) {
            throw ApiException.invalid("Invalid filename", "filename");
        }
        return name;
    }

    /** Whether {@code sampling} bans every end-of-generation token, as llama-server's {@code ignore_eos} does. */
    private boolean bansEndOfGeneration(SamplingOptions sampling) {
        List<Integer> ends = model.vocabulary().endOfGenerationIds();
        return !ends.isEmpty() && ends.stream().allMatch(id -> sampling.logitBias().getOrDefault(id, 0f) == Float.NEGATIVE_INFINITY);
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
