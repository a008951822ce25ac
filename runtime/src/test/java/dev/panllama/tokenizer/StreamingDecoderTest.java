package dev.panllama.tokenizer;

import dev.panllama.gguf.GgufFile;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;

class StreamingDecoderTest {

    @Test
    void charactersSplitOverTokensAreHeldBackUntilComplete() {
        Tokenizer tokenizer;
        try (GgufFile file = GgufFile.open(TokenizerVectorsTest.models().resolve("ggml-vocab-llama-spm.gguf"))) {
            tokenizer = Tokenizer.of(file.metadata());
        }
        // The llama (SentencePiece) vocabulary has no token for the llama emoji: it falls back to four byte tokens.
        int[] ids = tokenizer.encode("a🦙b", false, false);
        StreamingDecoder decoder = tokenizer.streamingDecoder();
        StringBuilder text = new StringBuilder();
        int emptySteps = 0;
        for (int id : ids) {
            String piece = decoder.next(id, false);
            if (piece.isEmpty()) {
                emptySteps++;
            }
            text.append(piece);
        }
        text.append(decoder.flush());
        assertEquals(" a🦙b", text.toString());
        assertEquals(3, emptySteps, "the first three bytes of the emoji wait for the fourth");
    }

    @Test
    void completePrefixStopsBeforeAnUnfinishedSequence() {
        byte[] emoji = "🦙".getBytes(StandardCharsets.UTF_8);
        assertEquals(0, StreamingDecoder.completePrefix(new byte[] {emoji[0], emoji[1]}));
        assertEquals(4, StreamingDecoder.completePrefix(emoji));
        assertEquals(1, StreamingDecoder.completePrefix(new byte[] {'x', emoji[0]}));
    }
}
