package dev.panllama.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Byte-level BPE (tokenizer model {@code gpt2}): each pre-split word's UTF-8 bytes are mapped to
 * characters ({@link ByteUnicode}), then adjacent symbols are merged, lowest merge rank first (the
 * leftmost pair among equals), until no ranked pair remains.
 */
final class BpeTokenizer extends Tokenizer {

    private final PreTokenizer preTokenizer;

    BpeTokenizer(Vocabulary vocabulary, PreTokenizer preTokenizer) {
        super(vocabulary);
        this.preTokenizer = preTokenizer;
    }

    @Override
    void encodeFragments(List<Fragment> fragments, List<Integer> out) {
        for (Fragment fragment : fragments) {
            if (fragment.isToken()) {
                out.add(fragment.token());
                continue;
            }
            for (String word : preTokenizer.split(fragment.text())) {
                encodeWord(ByteUnicode.encode(word.getBytes(StandardCharsets.UTF_8)), out);
            }
        }
    }

    private record Pair(int left, int right, int rank, String text) {
    }

    private void encodeWord(String word, List<Integer> out) {
        if (preTokenizer.ignoresMerges()) {
            int whole = vocabulary.id(word);
            if (whole != Vocabulary.NONE) {
                out.add(whole);
                return;
            }
        }
        int n = word.length();
        String[] symbols = new String[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0; i < n; i++) {
            symbols[i] = String.valueOf(word.charAt(i));
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Pair> queue = new PriorityQueue<>((a, b) -> a.rank != b.rank ? Integer.compare(a.rank, b.rank) : Integer.compare(a.left, b.left));
        for (int i = 1; i < n; i++) {
            offer(queue, symbols, i - 1, i);
        }
        while (!queue.isEmpty()) {
            Pair pair = queue.poll();
            String left = symbols[pair.left()];
            String right = symbols[pair.right()];
            if (left.isEmpty() || right.isEmpty() || !(left + right).equals(pair.text())) {
                continue;   // one side has merged since this pair was queued
            }
            symbols[pair.left()] = pair.text();
            symbols[pair.right()] = "";
            next[pair.left()] = next[pair.right()];
            if (next[pair.right()] >= 0) {
                prev[next[pair.right()]] = pair.left();
            }
            offer(queue, symbols, prev[pair.left()], pair.left());
            offer(queue, symbols, pair.left(), next[pair.left()]);
        }
        for (int i = 0; i != -1 && i < n; i = next[i]) {
            if (symbols[i].isEmpty()) {
                continue;
            }
            int id = vocabulary.id(symbols[i]);
            if (id != Vocabulary.NONE) {
                out.add(id);
                continue;
            }
            // Not a token: fall back to one token per byte, skipping bytes the vocabulary lacks.
            for (int c = 0; c < symbols[i].length(); c++) {
                int single = vocabulary.id(String.valueOf(symbols[i].charAt(c)));
                if (single != Vocabulary.NONE) {
                    out.add(single);
                }
            }
        }
    }

    private void offer(PriorityQueue<Pair> queue, String[] symbols, int left, int right) {
        if (left < 0 || right < 0) {
            return;
        }
        int rank = vocabulary.mergeRank(symbols[left], symbols[right]);
        if (rank >= 0) {
            queue.add(new Pair(left, right, rank, symbols[left] + symbols[right]));
        }
    }

    @Override
    public byte[] pieceBytes(int id, boolean special) {
        checkId(id);
        Vocabulary.TokenType type = vocabulary.type(id);
        String text = vocabulary.text(id);
        if (type == Vocabulary.TokenType.CONTROL || type == Vocabulary.TokenType.UNKNOWN) {
            return special ? text.getBytes(StandardCharsets.UTF_8) : new byte[0];
        }
        if (type == Vocabulary.TokenType.USER_DEFINED) {
            return text.getBytes(StandardCharsets.UTF_8);
        }
        byte[] bytes = new byte[text.length()];
        int length = 0;
        for (int i = 0; i < text.length(); i++) {
            int b = ByteUnicode.decode(text.charAt(i));
            if (b >= 0) {
                bytes[length++] = (byte) b;
            }
        }
        return java.util.Arrays.copyOf(bytes, length);
    }
}
