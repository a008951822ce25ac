package dev.panllama.server;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The load test's request mix: what {@code scripts/bench-serve} sends, for either server. */
class LoadClientTest {

    @Test
    void theMixIsTheSameForTheSameSeedAndOtherwiseNot() {
        assertEquals(LoadClient.mixedRequests(32, 5), LoadClient.mixedRequests(32, 5));
        assertNotEquals(LoadClient.mixedRequests(32, 5), LoadClient.mixedRequests(32, 6));
    }

    @Test
    void replyLimitsStayInTheirRangeAndLeaveThePromptsAsTheyAre() {
        List<LoadClient.Request> shortReplies = LoadClient.mixedRequests(64, 3);
        List<LoadClient.Request> chatReplies = LoadClient.mixedRequests(64, 3, 32, 128);
        assertEquals(shortReplies, LoadClient.mixedRequests(64, 3, LoadClient.SHORT_REPLY_MIN, LoadClient.SHORT_REPLY_MAX));
        for (int i = 0; i < shortReplies.size(); i++) {
            assertEquals(shortReplies.get(i).prompt(), chatReplies.get(i).prompt(), "request " + i);
            int limit = chatReplies.get(i).maxTokens();
            assertTrue(limit >= 32 && limit <= 128, "request " + i + ": " + limit);
            int shortLimit = shortReplies.get(i).maxTokens();
            assertTrue(shortLimit >= 4 && shortLimit <= 32, "request " + i + ": " + shortLimit);
        }
        // The upper limit is included: a range of one value gives that value.
        assertTrue(LoadClient.mixedRequests(8, 3, 7, 7).stream().allMatch(request -> request.maxTokens() == 7));
    }

    @Test
    void limitsOutOfOrderOrBelowOneAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> LoadClient.mixedRequests(4, 1, 0, 8));
        assertThrows(IllegalArgumentException.class, () -> LoadClient.mixedRequests(4, 1, 9, 8));
    }
}
