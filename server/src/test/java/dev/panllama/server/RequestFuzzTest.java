package dev.panllama.server;

import dev.panllama.json.JsonReader;
import dev.panllama.json.JsonWriter;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every generation and embedding endpoint (and the slot actions), sent valid bodies with one or two of their values replaced by
 * values of other types (or removed, or keys added), seeded: each answer is a success or a refusal of the
 * request (4xx, in the API's error shape), never a server error, and the server goes on serving.
 */
class RequestFuzzTest extends ServedModel {

    private static final int MUTANTS_PER_BODY = 40;
    private static final String USER = "{\"role\":\"user\",\"content\":\"Hi\"}";
    private static final String TOOLS = "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
            + "\"properties\":{\"n\":{\"type\":\"integer\"}}}}}]";

    /** A valid body per endpoint, each generating at most two tokens. */
    private static final Map<String, String> VALID = new TreeMap<>(Map.ofEntries(
            Map.entry("/v1/chat/completions", "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"}," + USER + "],\"max_tokens\":2,"
                    + "\"temperature\":0.5,\"top_k\":5,\"stop\":[\"x\"],\"n\":2,\"logprobs\":true,\"top_logprobs\":2,\"tools\":" + TOOLS
                    + ",\"tool_choice\":\"auto\",\"response_format\":{\"type\":\"text\"},\"stream\":false}"),
            Map.entry("/v1/completions", "{\"prompt\":\"Once\",\"max_tokens\":2,\"n\":3,\"logprobs\":1,\"seed\":3,\"logit_bias\":{\"11\":1}}"),
            Map.entry("/v1/responses", "{\"instructions\":\"Be brief.\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
                    + "\"text\":\"Hi\"}]},{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{}\"},"
                    + "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"3\"}],\"max_output_tokens\":2,"
                    + "\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}],\"text\":{\"format\":"
                    + "{\"type\":\"text\"}},\"include\":[\"message.output_text.logprobs\"]}"),
            Map.entry("/v1/messages", "{\"system\":[{\"type\":\"text\",\"text\":\"Be brief.\"}],\"messages\":[" + USER + ",{\"role\":"
                    + "\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{\"n\":1}}]},{\"role\":\"user\","
                    + "\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":\"3\"}]}],\"max_tokens\":2,\"tools\":[{\"name\":"
                    + "\"f\",\"input_schema\":{\"type\":\"object\"}}],\"tool_choice\":{\"type\":\"auto\"},\"stop_sequences\":[\"x\"]}"),
            Map.entry("/completion", "{\"prompt\":\"Once\",\"n_predict\":2,\"n_probs\":2,\"samplers\":[\"top_k\",\"temperature\"]}"),
            Map.entry("/v1/embeddings", "{\"input\":[\"Hi\",[1,2,3]],\"encoding_format\":\"float\"}"),
            Map.entry("/embedding", "{\"content\":\"Hi\",\"embd_normalize\":1}"),
            Map.entry("/api/chat", "{\"model\":\"" + TestModel.ID + "\",\"messages\":[" + USER + "],\"stream\":false,\"options\":"
                    + "{\"num_predict\":2,\"temperature\":0.5},\"format\":\"json\"}"),
            Map.entry("/api/generate", "{\"model\":\"" + TestModel.ID + "\",\"prompt\":\"Once\",\"system\":\"Be brief.\",\"stream\":false,"
                    + "\"options\":{\"num_predict\":2}}"),
            Map.entry("/api/embed", "{\"model\":\"" + TestModel.ID + "\",\"input\":[\"Hi\",\"there\"],\"truncate\":true}"),
            Map.entry("/tokenize", "{\"content\":[\"Hi\",1917],\"with_pieces\":true}"),
            Map.entry("/slots/0?action=save", "{\"filename\":\"fuzz.bin\"}"),
            Map.entry("/slots/1?action=erase", "{}")));

    @Test
    void mutatedBodiesAreAnsweredOrRefusedNeverFailed() throws Exception {
        SplittableRandom random = new SplittableRandom(20261129);
        Path slots = Files.createDirectories(temp.resolve("fuzzed-slots"));
        try (OpenAiServer server = OpenAiServer.start(model, ServerOptions.defaults(TestModel.ID).withPort(0).withSlotSavePath(slots))) {
            for (Map.Entry<String, String> endpoint : VALID.entrySet()) {
                HttpResponse<String> valid = OpenAiServerTest.post(server, endpoint.getKey(), endpoint.getValue());
                assertEquals(200, valid.statusCode(), endpoint.getKey() + " " + valid.body());
                int refused = 0;
                for (int m = 0; m < MUTANTS_PER_BODY; m++) {
                    Object body = JsonReader.parse(endpoint.getValue());
                    int edits = 1 + random.nextInt(2);
                    for (int e = 0; e < edits; e++) {
                        body = mutate(body, random, 0);
                    }
                    String sent = JsonWriter.write(bounded(body));
                    HttpResponse<String> response = OpenAiServerTest.post(server, endpoint.getKey(), sent);
                    int status = response.statusCode();
                    assertTrue(status == 200 || status >= 400 && status < 500, endpoint.getKey() + " " + sent + " -> " + status + " "
                            + response.body());
                    if (status != 200) {
                        refused++;
                        Map<?, ?> error = (Map<?, ?>) JsonReader.parse(response.body());
                        assertTrue(error.containsKey("error"), sent + " -> " + response.body());
                    }
                }
                System.out.printf("request fuzz %-22s %d mutants, %d refused%n", endpoint.getKey(), MUTANTS_PER_BODY, refused);
            }
            assertEquals(200, OpenAiServerTest.send(server, "GET", "/health", null, null).statusCode());
            try (var saved = Files.list(slots)) {
                assertTrue(saved.allMatch(file -> file.getParent().equals(slots)), "a slot was saved outside its folder");
            }
            try (var around = Files.list(temp)) {
                assertTrue(around.allMatch(file -> file.equals(slots) || file.getFileName().toString().endsWith(".gguf")),
                        "no mutated file name reached beyond the slots' folder");
            }
        }
    }

    /** A mutant still generates at most a few tokens: its token limits are put back where a mutation removed them. */
    private static Object bounded(Object body) {
        if (body instanceof Map<?, ?> map) {
            Map<String, Object> copy = new LinkedHashMap<>();
            map.forEach((k, v) -> copy.put((String) k, v));
            for (String limit : List.of("max_tokens", "max_output_tokens", "n_predict")) {
                if (copy.containsKey(limit) && !(copy.get(limit) instanceof Number n && n.doubleValue() <= 4)) {
                    copy.put(limit, copy.get(limit) instanceof Number ? 2 : copy.get(limit));
                }
            }
            if (!copy.containsKey("max_tokens") && !copy.containsKey("max_output_tokens") && !copy.containsKey("n_predict")
                    && !copy.containsKey("options") && !copy.containsKey("input") && !copy.containsKey("content")) {
                copy.put("max_tokens", 2);
            }
            return copy;
        }
        return body;
    }

    /** {@code value} with one of its values (at any depth) replaced by another type's, removed, or a key added. */
    @SuppressWarnings("unchecked")
    private static Object mutate(Object value, SplittableRandom random, int depth) {
        boolean here = depth > 0 && random.nextInt(3) == 0 || depth > 4;
        if (value instanceof Map<?, ?> map && !map.isEmpty() && !here) {
            Map<String, Object> copy = new LinkedHashMap<>((Map<String, Object>) map);
            List<String> keys = new ArrayList<>(copy.keySet());
            String key = keys.get(random.nextInt(keys.size()));
            switch (random.nextInt(6)) {
                case 0 -> copy.remove(key);
                case 1 -> copy.put("x" + random.nextInt(100), randomValue(random));
                default -> copy.put(key, mutate(copy.get(key), random, depth + 1));
            }
            return copy;
        }
        if (value instanceof List<?> list && !list.isEmpty() && !here) {
            List<Object> copy = new ArrayList<>(list);
            int i = random.nextInt(copy.size());
            switch (random.nextInt(5)) {
                case 0 -> copy.remove(i);
                case 1 -> copy.add(randomValue(random));
                default -> copy.set(i, mutate(copy.get(i), random, depth + 1));
            }
            return copy;
        }
        return randomValue(random);
    }

    private static Object randomValue(SplittableRandom random) {
        return switch (random.nextInt(9)) {
            case 0 -> null;
            case 1 -> random.nextBoolean();
            case 2 -> random.nextInt(-3, 5);
            case 3 -> random.nextDouble() * 1e6 - 5e5;
            case 4 -> "";
            case 5 -> List.of("x", "auto", "function", "text", "user").get(random.nextInt(5));
            case 6 -> List.of();
            case 7 -> Map.of();
            default -> List.of(Map.of("type", "text", "text", "x"));
        };
    }
}
