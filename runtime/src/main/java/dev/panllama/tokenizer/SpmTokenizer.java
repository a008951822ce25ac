package dev.panllama.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * SentencePiece BPE (tokenizer model {@code llama}, Llama 1 and 2): spaces become {@code ▁}, a space
 * is put before the text (and after each special token), then adjacent pieces are merged, highest
 * token score first, while the merge is itself a token; leftovers fall back to byte tokens.
 */
final class SpmTokenizer extends Tokenizer {

    private static final String SPACE = "\u2581";

    SpmTokenizer(Vocabulary vocabulary) {
        super(vocabulary);
    }

    @Override
    void encodeFragments(List<Fragment> fragments, List<Integer> out) {
        boolean previousSpecial = true;
        for (Fragment fragment : fragments) {
            if (fragment.isToken()) {
                out.add(fragment.token());
                previousSpecial = true;
                continue;
            }
            String text = (vocabulary.addSpacePrefix() && previousSpecial ? " " : "") + fragment.text();
            encodeText(text.replace(" ", SPACE), out);
            previousSpecial = false;
        }
    }

    private record Pair(int left, int right, float score, int size) {
    }

    private void encodeText(String text, List<Integer> out) {
        int n = text.codePointCount(0, text.length());
        String[] symbols = new String[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0, offset = 0; i < n; i++) {
            int end = text.offsetByCodePoints(offset, 1);
            symbols[i] = text.substring(offset, end);
            offset = end;
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        Map<String, int[]> reverseMerges = new HashMap<>();
        PriorityQueue<Pair> queue = new PriorityQueue<>((a, b) -> a.score != b.score ? Float.compare(b.score, a.score) : Integer.compare(a.left, b.left));
        for (int i = 1; i < n; i++) {
            offer(queue, reverseMerges, symbols, i - 1, i);
        }
        while (!queue.isEmpty()) {
            Pair pair = queue.poll();
            String left = symbols[pair.left()];
            String right = symbols[pair.right()];
            if (left.isEmpty() || right.isEmpty() || left.length() + right.length() != pair.size()) {
                continue;
            }
            symbols[pair.left()] = left + right;
            symbols[pair.right()] = "";
            next[pair.left()] = next[pair.right()];
            if (next[pair.right()] >= 0) {
                prev[next[pair.right()]] = pair.left();
            }
            offer(queue, reverseMerges, symbols, prev[pair.left()], pair.left());
            offer(queue, reverseMerges, symbols, pair.left(), next[pair.left()]);
        }
        for (int i = 0; i != -1 && n > 0; i = next[i]) {
            resegment(symbols, reverseMerges, symbols[i], out);
        }
    }

    private void offer(PriorityQueue<Pair> queue, Map<String, int[]> reverseMerges, String[] symbols, int left, int right) {
        if (left < 0 || right < 0) {
            return;
        }
        String text = symbols[left] + symbols[right];
        int id = vocabulary.id(text);
        if (id == Vocabulary.NONE) {
            return;
        }
        queue.add(new Pair(left, right, vocabulary.score(id), text.length()));
        reverseMerges.put(text, new int[] {left, right});
    }

    /** Emits {@code text} as a token, else as the two pieces it was merged from, else as bytes. */
    private void resegment(String[] symbols, Map<String, int[]> reverseMerges, String text, List<Integer> out) {
        int id = vocabulary.id(text);
        if (id != Vocabulary.NONE) {
            out.add(id);
            return;
        }
        int[] parts = reverseMerges.get(text);
        if (parts == null) {
            for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
                out.add(byteToken(b));
            }
            return;
        }
        resegment(symbols, reverseMerges, symbols[parts[0]], out);
        resegment(symbols, reverseMerges, symbols[parts[1]], out);
    }

    private int byteToken(byte b) {
        int id = vocabulary.id(String.format("<0x%02X>", b & 0xFF));
        if (id == Vocabulary.NONE) {
            id = vocabulary.id(new String(new byte[] {b}, StandardCharsets.ISO_8859_1));
        }
        if (id == Vocabulary.NONE) {
            throw new IllegalStateException("the vocabulary has no token for byte " + (b & 0xFF));
        }
        return id;
    }

    /** As llama.cpp detokenizes: the space the encoder put before the text is taken off again. */
    @Override
    public String decode(int[] ids) {
        String text = super.decode(ids);
        return vocabulary.addSpacePrefix() && text.startsWith(" ") ? text.substring(1) : text;
    }

    @Override
    public byte[] pieceBytes(int id, boolean special) {
        checkId(id);
        String text = vocabulary.text(id);
        switch (vocabulary.type(id)) {
            case CONTROL, UNKNOWN -> {
                return special ? text.getBytes(StandardCharsets.UTF_8) : new byte[0];
            }
            case BYTE -> {
                return new byte[] {(byte) Integer.parseInt(text.substring(3, 5), 16)};
            }
            default -> {
                return text.replace(SPACE, " ").getBytes(StandardCharsets.UTF_8);
            }
        }
    }
}
