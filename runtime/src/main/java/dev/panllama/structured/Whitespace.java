package dev.panllama.structured;

/**
 * The whitespace allowed between the tokens of a document, as llama.cpp's JSON grammars allow it:
 * nothing, one space (or tab), or one line break and an indent of at most {@link #MAX_INDENT} spaces
 * or tabs. Bounded, so that a model cannot idle in whitespace, yet enough for pretty-printed JSON.
 *
 * <p>A gap's state is an int: {@link #NONE} before any whitespace, {@link #SPACE} after a space,
 * {@link #LINE} plus the indent so far after a line break.
 */
final class Whitespace {

    static final int MAX_INDENT = 20;
    static final int NONE = 0;
    static final int SPACE = 1;
    static final int LINE = 2;

    private Whitespace() {
    }

    static boolean is(int b) {
        return b == ' ' || b == '\n' || b == '\t' || b == '\r';
    }

    /** The gap's state after whitespace byte {@code b}, or -1 when the gap may not take it. */
    static int next(int gap, int b) {
        boolean blank = b == ' ' || b == '\t';
        if (gap == NONE) {
            return blank ? SPACE : b == '\n' ? LINE : -1;
        }
        if (gap >= LINE && blank && gap - LINE < MAX_INDENT) {
            return gap + 1;
        }
        return -1;
    }
}
