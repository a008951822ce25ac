package dev.panllama.chat;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A reply's reasoning block told apart from its answer as llama-server of the pin tells them (what it answered
 * for DeepSeek R1's template, whose prompt ends with {@code <think>\n}: the reasoning keeps that newline and the
 * white space before {@code </think>}, the answer the white space after it), whole and piece by piece alike.
 */
class ReasoningSplitTest {

    private static final String R1_PROMPT = "<｜User｜>Capital?<｜Assistant｜><think>\n";
    private static final String REPLY = "I ponder.\n\nMore. </think>\n\nParis is it.";

    @Test
    void aPromptThatOpensTheBlockStartsTheReplyInside() {
        ReasoningSplit.Start start = ReasoningSplit.at(R1_PROMPT, true, true);
        assertTrue(start.opened());
        assertEquals(new ReasoningSplit.Parts("\nI ponder.\n\nMore. ", "\n\nParis is it."), new ReasoningSplit(start).whole(REPLY));
        assertEquals(new ReasoningSplit.Parts("\nI ponde", ""), new ReasoningSplit(start).whole("I ponde"), "cut off inside: all reasoning");
        assertEquals(new ReasoningSplit.Parts("", "<think>\n" + REPLY), new ReasoningSplit(ReasoningSplit.at(R1_PROMPT, true, false)).whole(REPLY),
                "left together, the reply reads as the whole block, as llama-server's reasoning format none gives it");
    }

    @Test
    void aReplyMayOpenTheBlockItselfAndOnlyAtItsStart() {
        ReasoningSplit.Start start = ReasoningSplit.at("<|im_start|>assistant\n", true, true);
        assertFalse(start.opened());
        assertEquals(new ReasoningSplit.Parts("\nHm.\n", "\n\nYes."), new ReasoningSplit(start).whole("  <think>\nHm.\n</think>\n\nYes."));
        assertEquals(new ReasoningSplit.Parts("", "Yes. <think>no</think>"), new ReasoningSplit(start).whole("Yes. <think>no</think>"));
        assertEquals(new ReasoningSplit.Parts("", " <thi"), new ReasoningSplit(start).whole(" <thi"), "a tag never finished is text");
    }

    @Test
    void aTemplateWithoutReasoningOrAClosedBlockGivesAllAsText() {
        assertEquals(ReasoningSplit.Start.NONE, ReasoningSplit.at(R1_PROMPT, false, true));
        assertEquals(new ReasoningSplit.Parts("", REPLY), new ReasoningSplit(ReasoningSplit.Start.NONE).whole(REPLY));
        assertFalse(ReasoningSplit.at("<think>a</think>\n<|im_start|>assistant\n", true, true).opened(), "a block closed in the prompt");
        assertTrue(ReasoningSplit.thinks("{{ '<think>\\n' }}{{ '</think>' }}"));
        assertFalse(ReasoningSplit.thinks("{{ messages[0].content }}"));
    }

    @Test
    void reasoningOfOnlyWhiteSpaceIsNone() {
        ReasoningSplit.Start start = ReasoningSplit.at(R1_PROMPT, true, true);
        assertEquals(new ReasoningSplit.Parts("", "Paris."), new ReasoningSplit(start).whole(" \t\n</think>Paris."));
        assertEquals(new ReasoningSplit.Parts("", ""), new ReasoningSplit(start).whole("\n"), "cut off inside");
        assertEquals(new ReasoningSplit.Parts("\n\r\nHm", ""), new ReasoningSplit(start).whole("\r\nHm"), "white space before more is kept");
        ReasoningSplit split = new ReasoningSplit(start);
        assertEquals(new ReasoningSplit.Parts("", ""), split.pass("\n"));
        assertTrue(split.holds(), "white space is held while nothing else is reasoned");
    }

    /** Every way of cutting the reply into pieces gives the same parts, and nothing that may be a tag goes out early. */
    @Test
    void piecesGiveWhatTheWholeGives() {
        for (String prompt : List.of(R1_PROMPT, "assistant: ", R1_PROMPT + " ")) {
            String reply = prompt.equals(R1_PROMPT) ? REPLY : prompt.equals("assistant: ") ? " <think>Hm </think> Yes </think>" : "\n \n</think> Yes";
            ReasoningSplit.Start start = ReasoningSplit.at(prompt, true, true);
            ReasoningSplit.Parts whole = new ReasoningSplit(start).whole(reply);
            for (int size = 1; size <= 5; size++) {
                ReasoningSplit split = new ReasoningSplit(start);
                StringBuilder reasoning = new StringBuilder();
                StringBuilder content = new StringBuilder();
                for (int at = 0; at < reply.length(); at += size) {
                    ReasoningSplit.Parts parts = split.pass(reply.substring(at, Math.min(reply.length(), at + size)));
                    reasoning.append(parts.reasoning());
                    content.append(parts.content());
                    assertFalse(reasoning.toString().contains("<") || content.indexOf("</think>") == 0, reasoning + "|" + content);
                }
                ReasoningSplit.Parts rest = split.finish();
                assertEquals(whole, new ReasoningSplit.Parts(reasoning.append(rest.reasoning()).toString(),
                        content.append(rest.content()).toString()), "pieces of " + size);
            }
        }
    }
}
