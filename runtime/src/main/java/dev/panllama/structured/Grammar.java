package dev.panllama.structured;

import dev.panllama.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.List;

/**
 * A grammar in llama.cpp's GBNF ({@link GrammarParser} says what it takes) that constrains generation:
 * the text must follow it from its {@code root} rule, and the end of generation comes only where the
 * root is complete. Immutable and safe to share; each generation takes its own {@link #constraint}.
 *
 * <p>The rules are one array of elements: a rule is its alternatives' elements, each alternative ended
 * by {@link #ALT} and the last by {@link #END}; a character class is a {@link #CHAR} or {@link #CHAR_NOT}
 * followed by {@link #CHAR_ALT}s and {@link #CHAR_RANGE_UPPER}s (the upper end of a range starting at the
 * element before). A rule reference holds the index its rule starts at.
 */
public final class Grammar implements StructuredOutput {

    static final int END = 0;
    static final int ALT = 1;
    static final int RULE_REF = 2;
    static final int CHAR = 3;
    static final int CHAR_NOT = 4;
    static final int CHAR_RANGE_UPPER = 5;
    static final int CHAR_ALT = 6;
    static final int CHAR_ANY = 7;
    static final int TOKEN = 8;
    static final int TOKEN_NOT = 9;

    private final String text;
    final int[] kinds;
    final int[] values;
    final int root;
    /** The texts of {@code <name>} tokens, which the vocabulary turns into ids; a token element's value -1-i names the i-th. */
    private final List<String> tokenNames;

    Grammar(String text, int[] kinds, int[] values, int root, List<String> tokenNames) {
        this.text = text;
        this.kinds = kinds;
        this.values = values;
        this.root = root;
        this.tokenNames = tokenNames;
    }

    /**
     * Reads a GBNF grammar whose start is its {@code root} rule.
     *
     * @throws IllegalArgumentException where the text is not GBNF, uses a rule it does not define, has no
     *                                  {@code root}, or is left-recursive (the message says where)
     */
    public static Grammar parse(String gbnf) {
        return GrammarParser.parse(gbnf, "root");
    }

    /**
     * The constraint for one generation over a model's vocabulary.
     *
     * @throws IllegalArgumentException when a {@code <name>} token of the grammar is not one token of this vocabulary
     */
    @Override
    public GrammarConstraint constraint(VocabularyTrie trie, Tokenizer tokenizer) {
        return new GrammarConstraint(GrammarState.start(withTokensOf(tokenizer)), trie, tokenizer.vocabulary());
    }

    /** Whether {@code output} is a whole text of this grammar (tokens named by the grammar aside). */
    public boolean accepts(String output) {
        GrammarState state = GrammarState.start(this).feed(output.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return state.isComplete();
    }

    /**
     * This grammar with its {@code <name>} tokens as {@code tokenizer}'s ids (itself when it names none):
     * to find a name the vocabulary lacks before generating.
     *
     * @throws IllegalArgumentException when a name is not one token of the vocabulary
     */
    public Grammar withTokensOf(Tokenizer tokenizer) {
        if (tokenNames.isEmpty()) {
            return this;
        }
        int[] resolved = values.clone();
        for (int i = 0; i < kinds.length; i++) {
            if ((kinds[i] == TOKEN || kinds[i] == TOKEN_NOT) && values[i] < 0) {
                String name = tokenNames.get(-1 - values[i]);
                int[] ids = tokenizer.encode(name, false, true);
                if (ids.length != 1) {
                    throw new IllegalArgumentException("the grammar's token " + name + " is " + ids.length + " tokens of this model, not one");
                }
                resolved[i] = ids[0];
            }
        }
        return new Grammar(text, kinds, resolved, root, List.of());
    }

    /** Whether the element at {@code at} ends an alternative. */
    boolean endsAlternative(int at) {
        return kinds[at] == END || kinds[at] == ALT;
    }

    boolean isToken(int at) {
        return kinds[at] == TOKEN || kinds[at] == TOKEN_NOT;
    }

    /** Where the element after the character class starting at {@code at} is. */
    int afterClass(int at) {
        int i = at + 1;
        while (kinds[i] == CHAR_ALT || kinds[i] == CHAR_RANGE_UPPER) {
            i++;
        }
        return i;
    }

    /** Whether the character class starting at {@code at} takes {@code codePoint}. */
    boolean classAccepts(int at, int codePoint) {
        boolean positive = kinds[at] != CHAR_NOT;
        boolean found = false;
        int i = at;
        do {
            if (kinds[i] == CHAR_ANY) {
                found = true;
                i++;
            } else if (kinds[i + 1] == CHAR_RANGE_UPPER) {
                found |= values[i] <= codePoint && codePoint <= values[i + 1];
                i += 2;
            } else {
                found |= values[i] == codePoint;
                i++;
            }
        } while (kinds[i] == CHAR_ALT);
        return found == positive;
    }

    /** Whether the character class starting at {@code at} takes some code point from {@code low} to {@code high}. */
    boolean classAcceptsSome(int at, int low, int high) {
        boolean positive = kinds[at] != CHAR_NOT;
        int i = at;
        do {
            if (kinds[i] == CHAR_ANY) {
                return true;
            } else if (kinds[i + 1] == CHAR_RANGE_UPPER) {
                if (values[i] <= high && low <= values[i + 1]) {
                    return positive;
                }
                i += 2;
            } else {
                if (low <= values[i] && values[i] <= high) {
                    return positive;
                }
                i++;
            }
        } while (kinds[i] == CHAR_ALT);
        return !positive;
    }

    /** Whether the token element at {@code at} takes {@code token}. */
    boolean tokenAccepts(int at, int token) {
        return (values[at] == token) == (kinds[at] == TOKEN);
    }

    /**
     * Refuses a left-recursive grammar, whose matching would never end: a rule that can reach itself
     * again before reading anything (through its leftmost references, and those after references that
     * may be empty), as llama.cpp refuses it.
     */
    void checkNoLeftRecursion(int[] ruleStarts, String[] names) {
        int rules = ruleStarts.length;
        boolean[] visited = new boolean[rules];
        boolean[] inProgress = new boolean[rules];
        boolean[] mayBeEmpty = new boolean[rules];
        for (int rule = 0; rule < rules; rule++) {
            if (!visited[rule] && leftRecursive(rule, ruleStarts, visited, inProgress, mayBeEmpty)) {
                throw new IllegalArgumentException("the grammar is left-recursive at rule '" + names[rule]
                        + "' (a rule reaches itself before any text), which it cannot match");
            }
        }
    }

    private boolean leftRecursive(int rule, int[] ruleStarts, boolean[] visited, boolean[] inProgress, boolean[] mayBeEmpty) {
        if (inProgress[rule]) {
            return true;
        }
        inProgress[rule] = true;
        int start = ruleStarts[rule];
        boolean atAlternativeStart = true;
        for (int i = start; ; i++) {
            if (endsAlternative(i)) {
                if (atAlternativeStart) {
                    mayBeEmpty[rule] = true;
                }
                if (kinds[i] == END) {
                    break;
                }
                atAlternativeStart = true;
            } else {
                atAlternativeStart = false;
            }
        }
        boolean leftmost = true;
        for (int i = start; ; i++) {
            if (kinds[i] == RULE_REF && leftmost) {
                int target = Arrays.binarySearch(ruleStarts, values[i]);
                if (leftRecursive(target, ruleStarts, visited, inProgress, mayBeEmpty)) {
                    return true;
                }
                leftmost = mayBeEmpty[target];
            } else if (endsAlternative(i)) {
                leftmost = true;
                if (kinds[i] == END) {
                    break;
                }
            } else {
                leftmost = false;
            }
        }
        inProgress[rule] = false;
        visited[rule] = true;
        return false;
    }

    @Override
    public String toString() {
        return "GBNF grammar " + text;
    }
}
