package dev.panllama.structured;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * Where a {@link Grammar}'s matching is after some text: every reading of it still possible (a
 * {@link GrammarStack} each, all ending at an element that matches text or a token; {@link
 * GrammarStack#EMPTY} where the root is whole), and the start of a UTF-8 character whose last bytes
 * have not come yet, since grammars match characters and tokens may split them. Immutable.
 *
 * <p>It follows llama.cpp's grammar matching: a byte that no reading can take, or an invalid UTF-8
 * sequence, leaves it dead; a token may end inside a character only if some reading takes a character
 * that starts so.
 *
 * <p>The states of one matching are kept once each in its {@link Table}, with the state each byte leads
 * to once found: checking the vocabulary walks a million prefixes, most of which (any text inside a JSON
 * string, say) lead back to a state met before.
 */
final class GrammarState implements BytePrefix {

    private static final GrammarStack[] NONE = new GrammarStack[0];
    /**
     * The most readings a state may hold, and (times 16) rule expansions one step may go through. A grammar
     * that reads the same text in very many ways (nested repetitions such as {@code (x*)*} inside recursion)
     * has readings that multiply with every character, until memory runs out (llama.cpp's too), and each
     * reading costs time at every byte of a vocabulary's check; past this, its generation ends with an error
     * instead. The pinned tree's example grammars (json, c, ...) hold at most 13 readings over their texts.
     */
    static final int MAX_READINGS = 256;
    /**
     * The most readings one check (of the vocabulary, or of a token) may move on by a byte whose result is
     * not known yet: about a second of work at most. Checking the Llama 3 vocabulary against the pinned
     * tree's example grammars takes at most 75,000 (json.gbnf, inside an object); C's, 64,000.
     */
    static final long MAX_WORK = 5_000_000;
    /** UTF-8 sequence length by a first byte's high four bits; 0 for a continuation byte, invalid first. */
    private static final int[] SEQUENCE_LENGTH = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4};

    private final Table table;
    private final Grammar grammar;
    private final GrammarStack[] stacks;
    /** The bits of the character being read, and how many of its continuation bytes are still to come. */
    private final int partial;
    private final int remaining;
    private final int hash;
    /** The state each byte leads to, as far as found; null until the first. */
    private GrammarState[] next;

    private GrammarState(Table table, GrammarStack[] stacks, int partial, int remaining) {
        this.table = table;
        this.grammar = table.grammar;
        this.stacks = stacks;
        this.partial = partial;
        this.remaining = remaining;
        int sum = 0;
        for (GrammarStack stack : stacks) {
            sum += stack.hashCode();
        }
        this.hash = sum * 31 + partial * 7 + remaining;
    }

    /**
     * The states one matching has met, each once (a state is its readings as a set and its unfinished
     * character), so that one reached again by other text is the same object with its transitions known.
     * Bounded (each state keeps up to 256 transitions): past {@value #MAX_STATES} states it starts over.
     * One per generation; not thread-safe.
     */
    private static final class Table {
        private static final int MAX_STATES = 1 << 12;
        final Grammar grammar;
        final GrammarState dead;
        private final HashMap<GrammarState, GrammarState> states = new HashMap<>();
        /**
         * Readings moved on since {@link #check} began, each rule expansion on the way counted: what a check
         * costs, beyond the transitions already known.
         */
        private long work;

        Table(Grammar grammar) {
            this.grammar = grammar;
            this.dead = new GrammarState(this, NONE, 0, 0);
        }

        /** Counts {@code readings} more readings moved on; past {@link #MAX_WORK} in one check, the grammar is refused. */
        void spend(int readings) {
            work += readings;
            if (work > MAX_WORK) {
                throw new IllegalArgumentException("the grammar is too costly to follow: over " + MAX_WORK
                        + " readings moved on to check one token (a rule that can match the same text in many ways)");
            }
        }

        GrammarState of(GrammarStack[] stacks, int partial, int remaining) {
            if (stacks.length == 0) {
                return dead;
            }
            if (states.size() >= MAX_STATES) {
                states.clear();
            }
            GrammarState state = new GrammarState(this, stacks, partial, remaining);
            GrammarState known = states.putIfAbsent(state, state);
            return known != null ? known : state;
        }
    }

    @Override
    public boolean equals(Object other) {
        if (this == other) {
            return true;
        }
        if (!(other instanceof GrammarState state) || state.hash != hash || state.partial != partial
                || state.remaining != remaining || state.stacks.length != stacks.length) {
            return false;
        }
        Set<GrammarStack> mine = stacks.length > 8 ? Set.of(stacks) : null;
        for (GrammarStack stack : state.stacks) {
            if (mine != null ? !mine.contains(stack) : !contains(stack)) {
                return false;
            }
        }
        return true;
    }

    private boolean contains(GrammarStack stack) {
        for (GrammarStack mine : stacks) {
            if (mine.equals(stack)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public int hashCode() {
        return hash;
    }

    /** Starts a check of the vocabulary or of a token: its cost ({@link #MAX_WORK}) counts from here. */
    void check() {
        table.work = 0;
    }

    /** Before any text: the readings of each of the root's alternatives, in a matching of its own. */
    static GrammarState start(Grammar grammar) {
        Table table = new Table(grammar);
        Set<GrammarStack> out = new LinkedHashSet<>();
        for (int at = grammar.root; ; at++) {
            GrammarStack stack = grammar.endsAlternative(at) ? GrammarStack.EMPTY : GrammarStack.EMPTY.push(at);
            advance(table, stack, out);
            while (!grammar.endsAlternative(at)) {
                at++;
            }
            if (grammar.kinds[at] == Grammar.END) {
                break;
            }
        }
        return table.of(out.toArray(NONE), 0, 0);
    }

    /**
     * Adds to {@code out} the readings {@code stack} stands for once every rule reference on its top is
     * expanded into its alternatives: stacks whose top matches text or a token, or the empty stack.
     */
    private static void advance(Table table, GrammarStack stack, Set<GrammarStack> out) {
        Grammar grammar = table.grammar;
        ArrayDeque<GrammarStack> todo = new ArrayDeque<>();
        Set<GrammarStack> seen = new HashSet<>();
        todo.push(stack);
        while (!todo.isEmpty()) {
            GrammarStack current = todo.pop();
            if (!seen.add(current)) {
                continue;
            }
            table.spend(1);
            if (seen.size() > 16 * MAX_READINGS || out.size() > MAX_READINGS) {
                throw new IllegalArgumentException("the grammar is too ambiguous to follow: over " + MAX_READINGS
                        + " ways to read the text at once (a rule that can match the same text in many ways, such as (x*)* in a recursion)");
            }
            if (current.isEmpty() || grammar.kinds[current.top] != Grammar.RULE_REF) {
                out.add(current);
                continue;
            }
            int reference = current.top;
            GrammarStack rest = grammar.endsAlternative(reference + 1) ? current.below : current.below.push(reference + 1);
            for (int at = grammar.values[reference]; ; at++) {
                todo.push(grammar.endsAlternative(at) ? rest : rest.push(at));
                while (!grammar.endsAlternative(at)) {
                    at++;
                }
                if (grammar.kinds[at] == Grammar.END) {
                    break;
                }
            }
        }
    }

    /** Adds the readings of {@code stack} once its top is matched: the element at {@code next} where its alternative goes on. */
    private void moveOn(GrammarStack stack, int next, Set<GrammarStack> out) {
        advance(table, grammar.endsAlternative(next) ? stack.below : stack.below.push(next), out);
    }

    /** After {@code codePoint}: the readings whose top character class takes it, moved past it. */
    private GrammarState accept(int codePoint) {
        Set<GrammarStack> out = new LinkedHashSet<>();
        for (GrammarStack stack : stacks) {
            if (stack.isEmpty() || grammar.isToken(stack.top) || !grammar.classAccepts(stack.top, codePoint)) {
                continue;
            }
            moveOn(stack, grammar.afterClass(stack.top), out);
        }
        return table.of(out.toArray(NONE), 0, 0);
    }

    @Override
    public GrammarState feed(int b) {
        if (next == null) {
            next = new GrammarState[256];
        } else if (next[b] != null) {
            return next[b];
        }
        GrammarState after = step(b);
        next[b] = after;
        return after;
    }

    private GrammarState step(int b) {
        table.spend(stacks.length);
        if (isDead() || b == 0) {
            // A NUL ends a token's text for llama.cpp, which never matches past it.
            return dead();
        }
        if (remaining > 0) {
            if (b >> 6 != 2) {
                return dead();
            }
            int value = partial << 6 | b & 0x3F;
            return remaining == 1 ? accept(value) : partially(value, remaining - 1);
        }
        int continuations = SEQUENCE_LENGTH[b >> 4] - 1;
        if (continuations < 0) {
            return dead();
        }
        int value = b & (1 << 7 - continuations) - 1;
        return continuations == 0 ? accept(value) : partially(value, continuations);
    }

    /**
     * Inside a character: alive while some reading matches characters. Which character it becomes is
     * checked once it is whole, or where the token ends ({@link #mayEndToken}); a check of its first bytes
     * alone would refuse too much (a negated class that leaves out one character of their range).
     */
    private GrammarState partially(int value, int continuations) {
        return canContinue() ? table.of(stacks, value, continuations) : dead();
    }

    GrammarState feed(byte[] bytes) {
        GrammarState state = this;
        for (int i = 0; i < bytes.length && !state.isDead(); i++) {
            state = state.feed(bytes[i] & 0xFF);
        }
        return state;
    }

    GrammarState feed(String text) {
        return feed(text.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * After the token {@code token} whose text is {@code bytes}: the readings expecting that token (by its
     * id, at a token's start), and those whose characters its text continues; dead when none, or when it
     * ends inside a character no reading can take. A token without text matches only by its id.
     */
    GrammarState afterToken(int token, byte[] bytes) {
        Set<GrammarStack> out = new LinkedHashSet<>();
        Decoded decoded = Decoded.of(bytes);
        if (remaining == 0 && decoded.matchesById(bytes.length)) {
            for (GrammarStack stack : stacks) {
                if (!stack.isEmpty() && grammar.isToken(stack.top) && grammar.tokenAccepts(stack.top, token)) {
                    moveOn(stack, stack.top + 1, out);
                }
            }
        }
        GrammarState byText = bytes.length == 0 ? dead() : feed(bytes);
        if (byText.isDead() || !byText.mayEndToken()) {
            // After a token element the characters go on from where the token's text left off, as in llama.cpp.
            return table.of(out.toArray(NONE), decoded.partial(), decoded.remaining());
        }
        if (out.isEmpty()) {
            return byText;
        }
        for (GrammarStack stack : byText.stacks) {
            out.add(stack);
        }
        return table.of(out.toArray(NONE), byText.partial, byText.remaining);
    }

    private static boolean matchesById(byte[] text) {
        return Decoded.of(text).matchesById(text.length);
    }

    /**
     * A token's text as llama.cpp's decoder reads it on its own: how many whole characters it holds, and
     * the bits and missing bytes of a last one it cuts off; {@code invalid} where a byte that must start
     * a character cannot (llama.cpp does not check the bytes inside a character).
     */
    record Decoded(int characters, int partial, int remaining, boolean invalid) {

        static Decoded of(byte[] bytes) {
            int characters = 0;
            int value = 0;
            int remaining = 0;
            for (byte b : bytes) {
                int next = b & 0xFF;
                if (next == 0) {
                    return new Decoded(characters, 0, 0, true);
                }
                if (remaining > 0) {
                    value = value << 6 | next & 0x3F;
                    remaining--;
                } else {
                    remaining = SEQUENCE_LENGTH[next >> 4] - 1;
                    if (remaining < 0) {
                        return new Decoded(characters, 0, 0, true);
                    }
                    value = next & (1 << 7 - remaining) - 1;
                }
                if (remaining == 0) {
                    characters++;
                }
            }
            return new Decoded(characters, remaining == 0 ? 0 : value, remaining, false);
        }

        /**
         * Whether a token element may match the token by its id: one without text, or one whose text is
         * valid and starts with a whole character, as llama.cpp's mask lets through.
         */
        boolean matchesById(int length) {
            return length == 0 || !invalid && characters > 0;
        }
    }

    /**
     * Marks in {@code allowed} the tokens that readings waiting for a token take (none inside a character):
     * a named token whose text ({@code trie}'s) lets it match by id ({@link Decoded#matchesById}), and for a
     * negated one any other token with such text. Worked out here, where a token element waits, rather than
     * for the whole vocabulary in every generation: few grammars have one.
     */
    void allowTokens(boolean[] allowed, VocabularyTrie trie) {
        if (remaining > 0) {
            return;
        }
        for (GrammarStack stack : stacks) {
            if (stack.isEmpty() || !grammar.isToken(stack.top)) {
                continue;
            }
            int value = grammar.values[stack.top];
            if (grammar.kinds[stack.top] == Grammar.TOKEN) {
                if (value >= 0 && value < allowed.length && matchesById(trie.bytes(value))) {
                    allowed[value] = true;
                }
            } else {
                for (int token = 0; token < allowed.length; token++) {
                    byte[] text = trie.bytes(token);
                    allowed[token] |= token != value && text.length > 0 && matchesById(text);
                }
            }
        }
    }

    @Override
    public boolean isDead() {
        return stacks.length == 0;
    }

    @Override
    public boolean mayEndToken() {
        return !isDead() && (remaining == 0 || someReadingTakesPartial());
    }

    /**
     * llama.cpp's check of a token that ends inside a character: whether some reading's character class
     * takes a character from the range its bytes so far can become, or for a negated class, whether none
     * of the class's characters is in that range; a two-byte start that could only spell an ASCII
     * character (overlong) is refused.
     */
    private boolean someReadingTakesPartial() {
        if (remaining == 1 && partial < 2) {
            return false;
        }
        int low = partial << remaining * 6;
        int high = low | (1 << remaining * 6) - 1;
        if (low == 0) {
            low = remaining == 2 ? 1 << 11 : remaining == 3 ? 1 << 16 : low;
        }
        for (GrammarStack stack : stacks) {
            if (!stack.isEmpty() && !grammar.isToken(stack.top) && grammar.classAcceptsSome(stack.top, low, high)) {
                return true;
            }
        }
        return false;
    }

    /** Whether some reading has matched the root whole: the end of generation may come (inside a character too, as llama.cpp allows it). */
    boolean allowsEnd() {
        for (GrammarStack stack : stacks) {
            if (stack.isEmpty()) {
                return true;
            }
        }
        return false;
    }

    /** Whether the text so far is a whole text of the grammar. */
    boolean isComplete() {
        return remaining == 0 && allowsEnd();
    }

    /** Whether some reading can take more. */
    boolean canContinue() {
        for (GrammarStack stack : stacks) {
            if (!stack.isEmpty()) {
                return true;
            }
        }
        return false;
    }

    private GrammarState dead() {
        return table.dead;
    }
}
