package dev.panllama.tokenizer;

/**
 * The reversible byte-to-character map of byte-level BPE (GPT-2): printable Latin-1 bytes stand for
 * themselves, the other 68 bytes for characters from U+0100 on, so every byte string is a string of
 * visible characters that the merges can work on.
 */
final class ByteUnicode {

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) next++;
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteUnicode() {
    }

    static String encode(byte[] utf8) {
        StringBuilder out = new StringBuilder(utf8.length);
        for (byte b : utf8) {
            out.append(BYTE_TO_CHAR[b & 0xFF]);
        }
        return out.toString();
    }

    /** The byte a character stands for, or -1 when it stands for none. */
    static int decode(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }
}
