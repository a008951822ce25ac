package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.chat.ToolCall;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Several tool calls in one reply, as OpenAI writes them: a list in the message, numbered in a stream's delta. */
class RepliesTest {

    static final List<ToolCall> CALLS = List.of(new ToolCall("call_a", "get_time", "{}"),
            new ToolCall("call_b", "get_weather", "{\"unit\":\"celsius\"}"));

    @Test
    @SuppressWarnings("unchecked")
    void aReplyOfSeveralCallsListsThemAllWholeAndStreamed() {
        Generation generation = new Generation("ignored", new int[]{1, 2}, new int[]{3}, Generation.StopReason.END_OF_TURN, 2, 1, 1, "");
        Map<String, Object> whole = new Replies("m", 0).chatCompletion("id", 0,
                List.of(new GenerationRun.Whole(generation, "", "ignored", CALLS, List.of(), 0)), java.util.Collections.singletonList(null));
        Map<String, Object> choice = ((List<Map<String, Object>>) whole.get("choices")).getFirst();
        Map<String, Object> message = (Map<String, Object>) choice.get("message");
        assertNull(message.get("content"));
        assertEquals("tool_calls", choice.get("finish_reason"));
        List<Map<String, Object>> calls = (List<Map<String, Object>>) message.get("tool_calls");
        assertEquals(List.of("call_a", "call_b"), calls.stream().map(c -> c.get("id")).toList());
        assertEquals(Map.of("name", "get_weather", "arguments", "{\"unit\":\"celsius\"}"), calls.get(1).get("function"));
        assertEquals(false, calls.getFirst().containsKey("index"), "a message's calls are not numbered");

        List<Map<String, Object>> deltas = (List<Map<String, Object>>) Replies.toolCallsDelta(CALLS).get("tool_calls");
        assertEquals(List.of(0, 1), deltas.stream().map(c -> c.get("index")).toList());
        assertEquals("function", deltas.get(1).get("type"));
    }
}
