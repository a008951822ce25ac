package dev.panllama.sampling;

import dev.panllama.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * {@link Dry}'s sequence breakers as tokens, found as llama.cpp finds them: every token whose text holds a
 * breaker is one by itself; a token whose text ends with the start of a breaker begins one whose rest is the
 * breaker's remaining text tokenized. Looking through the vocabulary takes a while, so each tokenizer's
 * breakers are kept once found.
 */
public final class DryBreakers {

    /** No breakers. */
    public static final DryBreakers NONE = new DryBreakers(Map.of());

    /** llama.cpp's bounds: a breaker's bytes and the tokens of its rest. */
    private static final int MAX_BREAKER_BYTES = 40;
    private static final int MAX_TAIL_TOKENS = 20;

    private static final Map<Tokenizer, Map<List<String>, DryBreakers>> FOUND = new WeakHashMap<>();

    /** By the first token of a breaker, the tokens that must follow it (none for a token that holds a whole breaker). */
    private final Map<Integer, List<int[]>> tails;

    private DryBreakers(Map<Integer, List<int[]>> tails) {
        this.tails = tails;
    }

    /** The breakers {@code breakers} make in {@code tokenizer}'s vocabulary. */
    public static DryBreakers of(List<String> breakers, Tokenizer tokenizer) {
        synchronized (FOUND) {
            return FOUND.computeIfAbsent(tokenizer, t -> new HashMap<>()).computeIfAbsent(List.copyOf(breakers), b -> find(b, tokenizer));
        }
    }

    private static DryBreakers find(List<String> breakers, Tokenizer tokenizer) {
        Map<Integer, List<int[]>> tails = new HashMap<>();
        int size = tokenizer.vocabulary().size();
        byte[][] words = new byte[size][];
        for (int token = 0; token < size; token++) {
            words[token] = tokenizer.pieceBytes(token, true);
        }
        for (String breaker : breakers) {
            byte[] text = breaker.getBytes(StandardCharsets.UTF_8);
            if (text.length == 0) {
                continue;
            }
            text = Arrays.copyOf(text, Math.min(text.length, MAX_BREAKER_BYTES));
            for (int token = 0; token < size; token++) {
                byte[] word = words[token];
                if (indexOf(word, text, 0) >= 0) {
                    add(tails, token, new int[0]);
                    continue;
                }
                // Each place the breaker's first byte appears: the breaker may begin there and go on past the token.
                for (int at = indexOf(word, text[0], 0); at >= 0; at = indexOf(word, text[0], at + 1)) {
                    int matched = 1;
                    while (matched < text.length && at + matched < word.length && word[at + matched] == text[matched]) {
                        matched++;
                    }
                    if (at + matched == word.length) {
                        String rest = new String(text, matched, text.length - matched, StandardCharsets.UTF_8);
                        int[] tail = tokenizer.encode(rest, false, false);
                        add(tails, token, Arrays.copyOf(tail, Math.min(tail.length, MAX_TAIL_TOKENS)));
                    }
                }
            }
        }
        return new DryBreakers(tails);
    }

    private static void add(Map<Integer, List<int[]>> tails, int token, int[] tail) {
        List<int[]> known = tails.computeIfAbsent(token, t -> new ArrayList<>());
        if (known.stream().noneMatch(existing -> Arrays.equals(existing, tail))) {
            known.add(tail);
        }
    }

    /** The tails of the breakers {@code token} begins, or null where it begins none. */
    List<int[]> tails(int token) {
        return tails.get(token);
    }

    /** Whether {@code token} is a whole breaker by itself: DRY never penalizes such a token. */
    boolean isWholeBreaker(int token) {
        List<int[]> known = tails.get(token);
        return known != null && known.stream().anyMatch(tail -> tail.length == 0);
    }

    private static int indexOf(byte[] word, byte[] text, int from) {
        outer:
        for (int at = from; at + text.length <= word.length; at++) {
            for (int i = 0; i < text.length; i++) {
                if (word[at + i] != text[i]) {
                    continue outer;
                }
            }
            return at;
        }
        return -1;
    }

    private static int indexOf(byte[] word, byte value, int from) {
        for (int at = from; at < word.length; at++) {
            if (word[at] == value) {
                return at;
            }
        }
        return -1;
    }
}
