package dev.panllama.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Decodes generated tokens one at a time into text, holding back the bytes of a character that a
 * token leaves incomplete (an emoji spread over several byte tokens) until the rest arrives.
 */
public final class StreamingDecoder {

    private final Tokenizer tokenizer;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

    StreamingDecoder(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** The text that {@code id} completes; empty while a character is still incomplete. */
    public String next(int id, boolean special) {
        pending.writeBytes(tokenizer.pieceBytes(id, special));
        byte[] bytes = pending.toByteArray();
        int complete = completePrefix(bytes);
        pending.reset();
        pending.write(bytes, complete, bytes.length - complete);
        return new String(bytes, 0, complete, StandardCharsets.UTF_8);
    }

    /** Whatever is left at the end of the stream, with incomplete characters replaced. */
    public String flush() {
        String rest = pending.toString(StandardCharsets.UTF_8);
        pending.reset();
        return rest;
    }

    /** The length of the longest prefix that does not end inside a UTF-8 sequence. */
    static int completePrefix(byte[] bytes) {
        int n = bytes.length;
        // Look back at most 3 bytes for the lead byte of the last sequence.
        for (int back = 1; back <= Math.min(4, n); back++) {
            int b = bytes[n - back] & 0xFF;
            if ((b & 0xC0) == 0x80) {
                continue;   // a continuation byte
            }
            int needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            return back >= needed ? n : n - back;
        }
        return n;
    }
}
