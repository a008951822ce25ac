package dev.panllama.server;

import dev.panllama.json.JsonReader;
import dev.panllama.json.JsonWriter;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** llama-server's {@code GET /slots}: what each slot is doing, as counts and settings. */
class SlotsEndpointTest extends ServedModel {

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> slots(OpenAiServer server) throws Exception {
        HttpResponse<String> response = OpenAiServerTest.send(server, "GET", "/slots", null, null);
        assertEquals(200, response.statusCode(), response.body());
        return (List<Map<String, Object>>) JsonReader.parse(response.body());
    }

    static long number(Map<String, Object> map, String key) {
        return ((Number) map.get(key)).longValue();
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> nextToken(Map<String, Object> slot) {
        return ((List<Map<String, Object>>) slot.get("next_token")).getFirst();
    }

    /** The one slot that has served a request, or is serving one. */
    static Map<String, Object> used(List<Map<String, Object>> slots) {
        List<Map<String, Object>> used = slots.stream().filter(slot -> slot.containsKey("id_task")).toList();
        assertEquals(1, used.size(), slots.toString());
        return used.getFirst();
    }

    /** The warm-up run (on by default, as llama-server's) leaves no cells and no request behind; without it, the same. */
    @Test
    void theWarmUpLeavesNothingBehind() throws Exception {
        for (boolean warmUp : new boolean[] {true, false}) {
            try (OpenAiServer server = OpenAiServerTest.start(OpenAiServerTest.options().withWarmUp(warmUp))) {
                assertTrue(slots(server).stream().noneMatch(slot -> slot.containsKey("id_task")), "warm-up " + warmUp);
                String metrics = OpenAiServerTest.send(server, "GET", "/metrics", null, null).body();
                assertEquals(0.0, OpenAiServerTest.metric(metrics, "panllama_kv_cache_tokens"), metrics);
                HttpResponse<String> reply = OpenAiServerTest.post(server, "/v1/chat/completions", OpenAiServerTest.GREEDY_CHAT);
                assertTrue(reply.body().contains(JsonWriter.write(TestModel.facadeReply(model))), "warm-up " + warmUp + ": " + reply.body());
            }
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void aFinishedRequestIsReportedWithItsCountsAndSettings() throws Exception {
        int[] prompt = model.tokenizer().encode("Once upon a time there was a slot", true, true);
        String request = JsonWriter.write(Map.of("prompt", Arrays.stream(prompt).boxed().toList(), "n_predict", 4, "temperature", 0,
                "seed", 42, "top_k", 7));
        try (OpenAiServer server = OpenAiServerTest.start(OpenAiServerTest.options().withParallel(2))) {
            List<Map<String, Object>> idle = slots(server);
            assertEquals(2, idle.size(), idle.toString());
            for (int i = 0; i < idle.size(); i++) {
                Map<String, Object> slot = idle.get(i);
                assertEquals((long) i, number(slot, "id"));
                assertEquals((long) model.contextLength(), number(slot, "n_ctx"));
                assertEquals(false, slot.get("is_processing"));
                assertFalse(slot.containsKey("id_task"), "a slot that served nothing reports no request: " + slot);
            }

            assertEquals(200, OpenAiServerTest.post(server, "/completion", request).statusCode());
            Map<String, Object> first = used(slots(server));
            assertEquals(false, first.get("is_processing"), first.toString());
            // As llama-server, the tokens the slot's cache holds: the prompt and the reply's but the last, which was not evaluated.
            assertEquals((long) prompt.length + 3, number(first, "n_prompt_tokens"));
            // An idle slot's progress is reset, as llama-server's.
            assertEquals(0L, number(first, "n_prompt_tokens_processed"));
            assertEquals(0L, number(first, "n_prompt_tokens_cache"));
            Map<String, Object> next = nextToken(first);
            assertEquals(0L, number(next, "n_decoded"), first.toString());
            assertEquals(-1L, number(next, "n_remain"), first.toString());
            assertEquals(false, next.get("has_next_token"));
            Map<String, Object> params = (Map<String, Object>) first.get("params");
            assertEquals(4L, number(params, "n_predict"));
            assertEquals(42L, number(params, "seed"));
            assertEquals(7L, number(params, "top_k"));
            assertEquals(0.0, ((Number) params.get("temperature")).doubleValue());
            assertFalse(first.containsKey("prompt") || first.containsKey("generated"), "no text of a client's is reported: " + first);

            // The same prompt again, generating until its client leaves: the slot's cache holds the prompt, so only
            // its last token is evaluated again.
            String endless = JsonWriter.write(Map.of("prompt", Arrays.stream(prompt).boxed().toList(), "n_predict", -1, "temperature", 1.5,
                    "seed", 3, "stream", true));
            try (java.net.Socket socket = OpenAiServerTest.postOverSocket(server, "/completion", endless)) {
                java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(socket.getInputStream(),
                        java.nio.charset.StandardCharsets.UTF_8));
                for (int events = 0; events < 3; ) {
                    String line = in.readLine();
                    assertTrue(line != null, "the stream ended");
                    events += line.startsWith("data: ") ? 1 : 0;
                }
                Map<String, Object> second = used(slots(server));
                assertEquals(true, second.get("is_processing"), second.toString());
                assertEquals(number(first, "id"), number(second, "id"), "the prompt went to the slot that holds it");
                assertTrue(number(second, "id_task") > number(first, "id_task"), second.toString());
                assertEquals((long) prompt.length - 1, number(second, "n_prompt_tokens_cache"), second.toString());
                assertEquals(1L, number(second, "n_prompt_tokens_processed"), second.toString());
                long decoded = number(nextToken(second), "n_decoded");
                assertTrue(decoded >= 1, second.toString());
                assertEquals(-1L, number(nextToken(second), "n_remain"), second.toString());
                assertEquals(true, nextToken(second).get("has_next_token"), second.toString());
                assertTrue(number(second, "n_prompt_tokens") >= prompt.length + decoded - 1, second.toString());
            }
        }
    }

    @Test
    void aRunningRequestIsReportedAsProcessingAndFailOnNoSlotSaysWhenAllAreBusy() throws Exception {
        try (OpenAiServer server = OpenAiServerTest.start(OpenAiServerTest.options().withParallel(1))) {
            assertEquals(200, OpenAiServerTest.send(server, "GET", "/slots?fail_on_no_slot=1", null, null).statusCode());
            try (ParallelServingTest.EndlessStream stream = new ParallelServingTest.EndlessStream(server, 3)) {
                stream.read(3);
                Map<String, Object> slot = used(slots(server));
                assertEquals(true, slot.get("is_processing"), slot.toString());
                Map<String, Object> next = nextToken(slot);
                assertEquals(true, next.get("has_next_token"), slot.toString());
                assertEquals(-1L, number(next, "n_remain"), "a request without a limit: " + slot);
                assertTrue(number(next, "n_decoded") >= 1, slot.toString());
                HttpResponse<String> busy = OpenAiServerTest.send(server, "GET", "/slots?fail_on_no_slot=1", null, null);
                assertEquals(503, busy.statusCode(), busy.body());
                assertEquals("unavailable_error", OpenAiServerTest.error(busy).get("type"), busy.body());
            }
            ParallelServingTest.awaitMetric(server, "panllama_requests_running 0");
            Map<String, Object> slot = used(slots(server));
            assertEquals(false, slot.get("is_processing"), slot.toString());
            assertEquals(false, nextToken(slot).get("has_next_token"), slot.toString());
            assertEquals(200, OpenAiServerTest.send(server, "GET", "/slots?fail_on_no_slot=1", null, null).statusCode());
        }
    }

    static Map<String, Object> slotAction(OpenAiServer server, int slot, String action, String body, int status) throws Exception {
        HttpResponse<String> response = OpenAiServerTest.post(server, "/slots/" + slot + "?action=" + action, body);
        assertEquals(status, response.statusCode(), response.body());
        return OpenAiServerTest.json(response.body());
    }

    static Map<String, Object> completion(OpenAiServer server, String request) throws Exception {
        HttpResponse<String> response = OpenAiServerTest.post(server, "/completion", request);
        assertEquals(200, response.statusCode(), response.body());
        return OpenAiServerTest.json(response.body());
    }

    /** The prompt tokens a {@code /completion} reply took from the cache. */
    @SuppressWarnings("unchecked")
    static long cachedPromptTokens(Map<String, Object> reply) {
        return number((Map<String, Object>) reply.get("timings"), "cache_n");
    }

    /** The newest request's slot report. */
    static Map<String, Object> newest(OpenAiServer server) throws Exception {
        return slots(server).stream().filter(slot -> slot.containsKey("id_task"))
                .max(java.util.Comparator.comparingLong(slot -> number(slot, "id_task"))).orElseThrow();
    }

    /**
     * A slot's cache saved to a file, erased, and restored into another slot: the restored cells serve the
     * same prompt as the saved ones did (only its last token evaluated again, the same greedy reply).
     */
    @Test
    void aSlotsCacheIsSavedErasedAndRestoredIntoAnotherSlot() throws Exception {
        Path folder = Files.createDirectories(temp.resolve("slots"));
        int[] prompt = model.tokenizer().encode("A slot saved to a file and read back", true, true);
        String request = JsonWriter.write(Map.of("prompt", Arrays.stream(prompt).boxed().toList(), "n_predict", 6, "temperature", 0));
        try (OpenAiServer server = OpenAiServerTest.start(OpenAiServerTest.options().withParallel(2).withSlotSavePath(folder))) {
            OpenAiServerTest.post(server, "/completion", request);
            Map<String, Object> fromCache = completion(server, request);
            assertEquals((long) prompt.length - 1, cachedPromptTokens(fromCache), fromCache.toString());
            int saved = (int) number(newest(server), "id");

            Map<String, Object> save = slotAction(server, saved, "save", "{\"filename\": \"story.bin\"}", 200);
            // The prompt and the reply's tokens but the last, which was not evaluated.
            long held = prompt.length + 5;
            assertEquals(held, number(save, "n_saved"), save.toString());
            assertEquals(Files.size(folder.resolve("story.bin")), number(save, "n_written"));
            assertEquals("story.bin", save.get("filename"));
            assertEquals(held, number(slotAction(server, saved, "erase", null, 200), "n_erased"));
            assertEquals(0L, number(slots(server).get(saved), "n_prompt_tokens"), "the erased slot's cache is empty");
            assertEquals(0L, cachedPromptTokens(completion(server, request)), "the erased cells are gone");
            slotAction(server, 0, "erase", null, 200);
            slotAction(server, 1, "erase", null, 200);

            int other = 1 - saved;
            Map<String, Object> restore = slotAction(server, other, "restore", "{\"filename\": \"story.bin\"}", 200);
            assertEquals(held, number(restore, "n_restored"), restore.toString());
            assertEquals(Files.size(folder.resolve("story.bin")), number(restore, "n_read"));
            Map<String, Object> fromRestored = completion(server, request);
            assertEquals((long) other, number(newest(server), "id"), "the prompt went to the slot restored");
            assertEquals((long) prompt.length - 1, cachedPromptTokens(fromRestored), fromRestored.toString());
            assertEquals(fromCache.get("content"), fromRestored.get("content"));

            // Refusals: a name that leaves the folder, a file that is not there (named as the client named it), an unknown
            // action or slot.
            for (String name : List.of("../story.bin", "sub/story.bin", ".hidden", "")) {
                Map<String, Object> refused = slotAction(server, 0, "save", JsonWriter.write(Map.of("filename", name)), 400);
                assertEquals("Invalid filename", ((Map<?, ?>) refused.get("error")).get("message"), name);
            }
            Map<String, Object> missing = slotAction(server, 0, "restore", "{\"filename\": \"absent.bin\"}", 400);
            String message = (String) ((Map<?, ?>) missing.get("error")).get("message");
            assertTrue(message.startsWith("Unable to restore slot: ") && message.contains("absent.bin") && !message.contains(folder.toString()),
                    message);
            slotAction(server, 0, "rename", "{}", 400);
            slotAction(server, 2, "erase", null, 400);
            assertEquals(List.of("story.bin"), Files.list(folder).map(file -> file.getFileName().toString()).toList(),
                    "nothing else was written in the folder");
        }
    }

    /**
     * llama-server's {@code id_slot}: a reply says which slot it ran in (the one to save), and a request that names a
     * slot runs there, waiting while it is busy without holding up the requests after it.
     */
    @Test
    void idSlotSaysWhereARequestRanAndPinsOneToASlot() throws Exception {
        try (OpenAiServer server = OpenAiServerTest.start(OpenAiServerTest.options().withParallel(2));
             var clients = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            Map<String, Object> pinned = completion(server, "{\"prompt\": \"Once\", \"n_predict\": 2, \"id_slot\": 1}");
            assertEquals(1L, number(pinned, "id_slot"), pinned.toString());
            assertEquals(1L, number(used(slots(server)), "id"));
            HttpResponse<String> outside = OpenAiServerTest.post(server, "/completion", "{\"prompt\": \"Once\", \"id_slot\": 2}");
            assertEquals(400, outside.statusCode(), outside.body());
            assertEquals("id_slot", OpenAiServerTest.error(outside).get("param"));

            java.util.concurrent.Future<Map<String, Object>> waiting;
            try (ParallelServingTest.EndlessStream stream = new ParallelServingTest.EndlessStream(server, 5)) {
                stream.read(3);
                int busy = (int) slots(server).stream().filter(slot -> Boolean.TRUE.equals(slot.get("is_processing")))
                        .mapToLong(slot -> number(slot, "id")).findFirst().orElseThrow();
                waiting = clients.submit(() -> completion(server, "{\"prompt\": \"Once\", \"n_predict\": 2, \"id_slot\": " + busy + "}"));
                // A request for any slot, sent after it, is served in the other slot meanwhile.
                Map<String, Object> other = completion(server, "{\"prompt\": \"Twice\", \"n_predict\": 2}");
                assertEquals(1L - busy, number(other, "id_slot"), other.toString());
                stream.read(2);
                assertFalse(waiting.isDone(), "the pinned request ran while its slot was busy");
                stream.close();
                assertEquals((long) busy, number(waiting.get(30, java.util.concurrent.TimeUnit.SECONDS), "id_slot"));
            }
        }
    }

    /** An action on a slot that is generating waits until its request ends, as llama-server's does. */
    @Test
    void anActionWaitsForItsSlotToBeIdle() throws Exception {
        Path folder = Files.createDirectories(temp.resolve("waiting"));
        try (OpenAiServer server = OpenAiServerTest.start(OpenAiServerTest.options().withParallel(1).withSlotSavePath(folder));
             var actions = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            java.util.concurrent.Future<Map<String, Object>> erase;
            try (ParallelServingTest.EndlessStream stream = new ParallelServingTest.EndlessStream(server, 4)) {
                stream.read(3);
                erase = actions.submit(() -> slotAction(server, 0, "erase", null, 200));
                stream.read(3);
                assertFalse(erase.isDone(), "the erase ran while the slot was generating");
            }
            // It ran once the request ended, its client gone, which freed its cells.
            assertEquals(0L, number(erase.get(30, java.util.concurrent.TimeUnit.SECONDS), "n_erased"));
        }
    }

    @Test
    void noSlotsTurnsTheEndpointOffAndPropsSaySo() throws Exception {
        try (OpenAiServer server = OpenAiServerTest.start(OpenAiServerTest.options())) {
            assertEquals(true, OpenAiServerTest.json(OpenAiServerTest.send(server, "GET", "/props", null, null).body()).get("endpoint_slots"));
            // Saving and restoring a slot's cache (llama-server's --slot-save-path) is not done here, and says so.
            HttpResponse<String> save = OpenAiServerTest.post(server, "/slots/0?action=save", "{\"filename\": \"slot.bin\"}");
            assertEquals(501, save.statusCode(), save.body());
            assertEquals("not_supported_error", OpenAiServerTest.error(save).get("type"));
        }
        try (OpenAiServer server = OpenAiServerTest.start(OpenAiServerTest.options().withSlots(false))) {
            HttpResponse<String> off = OpenAiServerTest.send(server, "GET", "/slots", null, null);
            assertEquals(501, off.statusCode(), off.body());
            assertEquals("not_supported_error", OpenAiServerTest.error(off).get("type"));
            assertEquals(false, OpenAiServerTest.json(OpenAiServerTest.send(server, "GET", "/props", null, null).body()).get("endpoint_slots"));
        }
    }
}
