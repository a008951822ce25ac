package dev.panllama.api;

import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Chats of one model in a {@link SharedContext}: a system prompt they have in common is kept once, its
 * cells shared rather than computed again, and each chat replies as it would in a cache of its own.
 */
class SharedContextTest {

    private static final String SYSTEM = "You are a terse assistant who answers in one short sentence, always.";

    @TempDir
    static Path temp;
    static Path modelFile;

    @BeforeAll
    static void writeModel() throws IOException {
        modelFile = temp.resolve("shared.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 5).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), modelFile);
    }

    @Test
    void twoChatsSharingASystemPromptKeepOneCopyOfItAndReplyAsAlone() {
        try (LlamaModel model = LlamaModel.open(modelFile, ChatTest.OPTIONS)) {
            Generation firstAlone;
            Generation secondAlone;
            try (Chat alone = model.newChat(SYSTEM)) {
                firstAlone = alone.send("Hello there", ChatTest.GREEDY);
            }
            try (Chat alone = model.newChat(SYSTEM)) {
                secondAlone = alone.send("What is a cache?", ChatTest.GREEDY);
            }
            try (SharedContext shared = model.newSharedContext(2); Chat first = shared.newChat(SYSTEM); Chat second = shared.newChat(SYSTEM)) {
                Generation firstShared = first.send("Hello there", ChatTest.GREEDY);
                long afterFirst = shared.cellsInUse();
                assertEquals(first.cachedTokens(), afterFirst, "one chat: its own cells");
                Generation secondShared = second.send("What is a cache?", ChatTest.GREEDY);

                int common = commonStart(first.cachedIds(), second.cachedIds());
                int systemTokens = model.tokenizer().encode(SYSTEM, false, false).length;
                assertTrue(common > systemTokens, "the chats' cached starts share " + common + " tokens, the system prompt has " + systemTokens);
                assertEquals(1, shared.prefixesShared(), "the second chat started from the first one's cells");
                // One copy of the common start: the second chat took cells only for what follows it.
                System.out.printf("shared context: chats of %d and %d cached tokens sharing a start of %d (system prompt %d tokens): %d cells in use%n",
                        first.cachedTokens(), second.cachedTokens(), common, systemTokens, shared.cellsInUse());
                assertEquals(first.cachedTokens() + second.cachedTokens() - common, shared.cellsInUse(),
                        "cells in use: " + first.cachedTokens() + " + " + second.cachedTokens() + " - " + common + " shared");
                assertEquals(secondShared.promptIds().length - common, secondShared.promptTokens(),
                        "the second chat evaluated only what follows the shared start");

                assertArrayEquals(firstAlone.generatedIds(), firstShared.generatedIds(), "first chat, shared against alone");
                assertArrayEquals(secondAlone.generatedIds(), secondShared.generatedIds(), "second chat, shared against alone");

                // Closing a chat frees its own cells; the shared start stays with the other.
                first.close();
                assertEquals(second.cachedTokens(), shared.cellsInUse());
            }
        }
    }

    @Test
    void aContextHoldsAsManySessionsAsItHasSequences() {
        try (LlamaModel model = LlamaModel.open(modelFile, ChatTest.OPTIONS); SharedContext shared = model.newSharedContext(2)) {
            Chat one = shared.newChat(SYSTEM);
            Completion two = shared.newCompletion();
            var full = assertThrows(IllegalStateException.class, () -> shared.newChat(SYSTEM));
            assertTrue(full.getMessage().contains("all 2 sequences"), full.getMessage());
            one.close();
            try (Chat three = shared.newChat(SYSTEM)) {
                assertEquals(0, three.cachedTokens());
            }
            shared.close();
            assertThrows(IllegalStateException.class, () -> two.complete("Hi", ChatTest.GREEDY, s -> { }), "a session of a closed context");
        }
    }

    private static int commonStart(int[] a, int[] b) {
        int n = 0;
        while (n < a.length && n < b.length && a[n] == b[n]) {
            n++;
        }
        return n;
    }
}
