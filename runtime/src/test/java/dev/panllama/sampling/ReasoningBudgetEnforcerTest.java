package dev.panllama.sampling;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReasoningBudgetEnforcerTest {

    /** Tokens of a made-up vocabulary: 1 2 opens a block, 3 4 closes it, 9 is a message, 7 is half a character. */
    private static final int[] START = {1, 2};
    private static final int[] END = {3, 4};
    private static final int HALF_CHARACTER = 7;

    private static ReasoningBudgetEnforcer budget(int tokens, int... message) {
        int[] forced = Arrays.copyOf(message, message.length + END.length);
        System.arraycopy(END, 0, forced, message.length, END.length);
        return new ReasoningBudgetEnforcer(START, END, forced, tokens, token -> token != HALF_CHARACTER);
    }

    /** The token the enforcer leaves when forcing, else -1. */
    private static int forced(ReasoningBudgetEnforcer enforcer) {
        float[] logits = new float[12];
        Arrays.fill(logits, 1);
        enforcer.mask(logits);
        int left = -1;
        for (int token = 0; token < logits.length; token++) {
            if (logits[token] != Float.NEGATIVE_INFINITY) {
                if (left >= 0 || !enforcer.forcing()) {
                    return -1;
                }
                left = token;
            }
        }
        return left;
    }

    private static void accept(ReasoningBudgetEnforcer enforcer, int... tokens) {
        for (int token : tokens) {
            assertEquals(-1, forced(enforcer), "nothing forced before " + token);
            enforcer.accept(token);
        }
    }

    @Test
    void theEndIsForcedOnceTheBlockHasRunForItsBudget() {
        ReasoningBudgetEnforcer enforcer = budget(3, 9);
        accept(enforcer, 5, 6, 1, 2, 5, 6, 5);
        for (int token : new int[] {9, 3, 4}) {
            assertEquals(token, forced(enforcer));
            enforcer.accept(token);
        }
        accept(enforcer, 5, 6, 5, 5, 5, 5);
    }

    @Test
    void aBlockEndedByTheModelForcesNothingAndAnotherBlockGetsABudgetOfItsOwn() {
        ReasoningBudgetEnforcer enforcer = budget(3);
        accept(enforcer, 1, 2, 5, 3, 4, 5, 5, 5, 5, 1, 2, 5, 5, 5);
        assertEquals(3, forced(enforcer));
    }

    @Test
    void aCharacterSplitAcrossTokensIsFinishedBeforeTheEnd() {
        ReasoningBudgetEnforcer enforcer = budget(2);
        accept(enforcer, 1, 2, 5, HALF_CHARACTER, HALF_CHARACTER, 5);
        assertEquals(3, forced(enforcer));
    }

    @Test
    void aBudgetOfNoneForcesTheEndAsTheBlockOpens() {
        ReasoningBudgetEnforcer enforcer = budget(0);
        accept(enforcer, 5, 1, 2);
        assertEquals(3, forced(enforcer));
        assertTrue(enforcer.forcing());
    }

    @Test
    void aTagSplitByAnotherTokenIsNoTag() {
        ReasoningBudgetEnforcer enforcer = budget(1);
        accept(enforcer, 1, 5, 2, 5, 5);
        assertFalse(enforcer.forcing());
    }

    @Test
    void aPieceEndsWithAWholeCharacterAsLlamaCppTellsIt() {
        for (String whole : Set.of("", "a", "é", "日本", "🙂")) {
            assertTrue(ReasoningBudgetEnforcer.endsWithWholeCharacter(whole.getBytes(StandardCharsets.UTF_8)), whole);
        }
        byte[] smile = "🙂".getBytes(StandardCharsets.UTF_8);
        for (int cut = 1; cut < smile.length; cut++) {
            assertFalse(ReasoningBudgetEnforcer.endsWithWholeCharacter(Arrays.copyOf(smile, cut)), "first " + cut + " bytes");
        }
        assertFalse(ReasoningBudgetEnforcer.endsWithWholeCharacter(new byte[] {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80}));
    }
}
