package dev.panllama.server;

import dev.panllama.api.LlamaModel;
import dev.panllama.eval.SequenceState;
import dev.panllama.sampling.SamplingOptions;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * llama-server's {@code /slots}: {@code GET /slots} reports what each of the {@link BatchScheduler}'s slots is
 * doing, as llama-server reports it by default (its number, the context, whether it is generating, the
 * tokens its cache holds, and of the request it serves or served last, the sampling settings and, while it
 * generates, the prompt's token counts and how far the generation is; no prompt or reply text), unless the
 * server runs with {@code --no-slots}. With {@code --slot-save-path}, {@code POST /slots/{id}?action=...}
 * saves a slot's cache to a file, restores it from one, or erases it.
 */
final class SlotEndpoints {

    private final BatchScheduler scheduler;
    private final LlamaModel model;
    private final ServerOptions options;

    SlotEndpoints(BatchScheduler scheduler, LlamaModel model, ServerOptions options) {
        this.scheduler = scheduler;
        this.model = model;
        this.options = options;
    }

    /** {@code GET /slots}; with llama-server's {@code fail_on_no_slot} set, a 503 when every slot is generating. */
    List<Map<String, Object>> report(boolean failOnNoSlot) {
        if (!options.slots()) {
            throw ApiException.notSupported("This server does not support slots endpoint. Start it with `--slots`");
        }
        List<SlotReport> reports = scheduler.slotReports();
        if (failOnNoSlot && reports.stream().allMatch(SlotReport::processing)) {
            throw new ApiException(503, "unavailable_error", "no slot available", null, null);
        }
        return render(reports);
    }

    /** The slots' reports as llama-server writes them. */
    private List<Map<String, Object>> render(List<SlotReport> reports) {
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
                params.putAll(LlamaServerEndpoint.params(sampling, report.options().maxTokens(), report.probabilities(), bansEndOfGeneration(sampling)));
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
    Map<String, Object> act(String id, String action, RequestFields body) throws InterruptedException {
        if (options.slotSavePath() == null) {
            throw ApiException.notSupported("This server does not support slots action. Start it with `--slot-save-path`");
        }
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
                    throw new ApiException(500, "server_error", "Unable to save slot: " + reason(e, file, name), null, null);
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
                    throw ApiException.invalid("Unable to restore slot: " + reason(e, file, name), "filename");
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

    /** Why {@code failure} happened, naming the file by the {@code name} the client gave: the folder is the server's own. */
    private static String reason(Exception failure, Path file, String name) {
        String why = failure.getMessage() == null ? failure.getClass().getSimpleName() : failure.getMessage();
        return why.replace(file.toAbsolutePath().toString(), name).replace(file.toString(), name);
    }

    /** Whether {@code sampling} bans every end-of-generation token, as llama-server's {@code ignore_eos} does. */
    private boolean bansEndOfGeneration(SamplingOptions sampling) {
        List<Integer> ends = model.vocabulary().endOfGenerationIds();
        return !ends.isEmpty() && ends.stream().allMatch(id -> sampling.logitBias().getOrDefault(id, 0f) == Float.NEGATIVE_INFINITY);
    }
}
