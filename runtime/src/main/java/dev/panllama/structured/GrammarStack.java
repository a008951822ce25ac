package dev.panllama.structured;

/**
 * One way to read the text so far under a {@link Grammar}: where the matching is in each rule it is
 * inside, the element to match next on top. Persistent (a push shares everything below), compared by
 * content so that a {@link GrammarState} holds each reading once. {@link #EMPTY} is the root matched
 * whole.
 */
final class GrammarStack {

    static final GrammarStack EMPTY = new GrammarStack(-1, null);

    /** The element to match next; -1 for {@link #EMPTY}. */
    final int top;
    final GrammarStack below;
    private final int hash;

    private GrammarStack(int top, GrammarStack below) {
        this.top = top;
        this.below = below;
        this.hash = below == null ? 0 : 31 * below.hash + top + 1;
    }

    GrammarStack push(int element) {
        return new GrammarStack(element, this);
    }

    boolean isEmpty() {
        return this == EMPTY;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof GrammarStack stack) || stack.hash != hash) {
            return false;
        }
        GrammarStack a = this;
        GrammarStack b = stack;
        while (a != b) {
            if (a == null || b == null || a.top != b.top) {
                return false;
            }
            a = a.below;
            b = b.below;
        }
        return true;
    }

    @Override
    public int hashCode() {
        return hash;
    }
}
