package dev.panllama.server;

import dev.panllama.json.JsonReader;
import dev.panllama.json.JsonWriter;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
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
            assertEquals((long) prompt.length, number(first, "n_prompt_tokens"));
            assertEquals((long) prompt.length, number(first, "n_prompt_tokens_processed"));
            assertEquals(0L, number(first, "n_prompt_tokens_cache"));
            Map<String, Object> next = nextToken(first);
            assertEquals(4L, number(next, "n_decoded"), first.toString());
            assertEquals(0L, number(next, "n_remain"), first.toString());
            assertEquals(false, next.get("has_next_token"));
            Map<String, Object> params = (Map<String, Object>) first.get("params");
            assertEquals(4L, number(params, "n_predict"));
            assertEquals(42L, number(params, "seed"));
            assertEquals(7L, number(params, "top_k"));
            assertEquals(0.0, ((Number) params.get("temperature")).doubleValue());
            assertFalse(first.containsKey("prompt") || first.containsKey("generated"), "no text of a client's is reported: " + first);

            // The same prompt again: the slot's cache holds it, so only its last token is evaluated again.
            assertEquals(200, OpenAiServerTest.post(server, "/completion", request).statusCode());
            Map<String, Object> second = used(slots(server));
            assertEquals(number(first, "id"), number(second, "id"), "the prompt went to the slot that holds it");
            assertTrue(number(second, "id_task") > number(first, "id_task"), second.toString());
            assertEquals((long) prompt.length - 1, number(second, "n_prompt_tokens_cache"), second.toString());
            assertEquals(1L, number(second, "n_prompt_tokens_processed"), second.toString());
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
