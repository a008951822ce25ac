package dev.panllama.sampling;

import java.util.Arrays;
import java.util.function.IntPredicate;

/**
 * One reply's {@link ReasoningBudget} kept, token by token, as llama.cpp's reasoning-budget sampler keeps it:
 * idle until the tokens of the opening tag come, then counting the block's tokens; when the budget is spent
 * (and the last token ends a whole UTF-8 character), forcing the message and the closing tag, one token per
 * step; done when the closing tag comes by itself or has been forced, until another block opens. Tags are
 * matched on token ids, as llama.cpp matches them. Not thread-safe.
 */
public final class ReasoningBudgetEnforcer {

    private enum State { IDLE, COUNTING, WAITING_FOR_CHARACTER, FORCING, DONE }

    private final TagMatcher start;
    private final TagMatcher end;
    private final int[] forced;
    private final int budget;
    /** Whether a token's text (control tokens as nothing) ends with a whole UTF-8 character. */
    private final IntPredicate completesCharacter;
    private State state = State.IDLE;
    private int remaining;
    private int forcedSoFar;

    /**
     * @param start              the opening tag's tokens
     * @param end                the closing tag's tokens
     * @param forced             what is forced when the budget is spent: the message's tokens, then the closing tag's
     * @param completesCharacter whether a token's text ends with a whole UTF-8 character
     */
    public ReasoningBudgetEnforcer(int[] start, int[] end, int[] forced, int budget, IntPredicate completesCharacter) {
        this.start = new TagMatcher(start);
        this.end = new TagMatcher(end);
        this.forced = forced.clone();
        this.budget = budget;
        this.remaining = budget;
        this.completesCharacter = completesCharacter;
    }

    /** Whether the next token is forced: {@link #mask} leaves only it. */
    public boolean forcing() {
        return state == State.FORCING && forcedSoFar < forced.length;
    }

    /** Sets every logit but the forced token's to negative infinity, while forcing; else leaves the logits alone. */
    public void mask(float[] logits) {
        if (!forcing()) {
            return;
        }
        int token = forced[forcedSoFar];
        float kept = logits[token];
        Arrays.fill(logits, Float.NEGATIVE_INFINITY);
        logits[token] = kept;
    }

    /** Moves past {@code token}: one the template wrote to open the reply, or one generated. */
    public void accept(int token) {
        switch (state) {
            case IDLE, DONE -> {
                // A new block (some models write several) gets a budget of its own.
                if (start.matches(token)) {
                    open();
                }
            }
            case COUNTING, WAITING_FOR_CHARACTER -> {
                if (end.matches(token)) {
                    state = State.DONE;
                    return;
                }
                boolean whole = completesCharacter.test(token);
                if (state == State.WAITING_FOR_CHARACTER) {
                    if (whole) {
                        startForcing();
                    }
                } else if (--remaining <= 0) {
                    if (whole) {
                        startForcing();
                    } else {
                        state = State.WAITING_FOR_CHARACTER;
                        end.reset();
                    }
                }
            }
            case FORCING -> {
                if (++forcedSoFar >= forced.length) {
                    state = State.DONE;
                }
            }
        }
    }

    private void open() {
        remaining = budget;
        end.reset();
        if (remaining <= 0) {
            state = State.FORCING;
            forcedSoFar = 0;
        } else {
            state = State.COUNTING;
        }
    }

    private void startForcing() {
        state = State.FORCING;
        forcedSoFar = 0;
        end.reset();
    }

    /** Whether {@code piece} ends with a whole UTF-8 character (nothing counts as whole), as llama.cpp checks it. */
    public static boolean endsWithWholeCharacter(byte[] piece) {
        if (piece.length == 0) {
            return true;
        }
        for (int back = 1; back <= Math.min(4, piece.length); back++) {
            int b = piece[piece.length - back] & 0xFF;
            if ((b & 0xC0) != 0x80) {
                int expected = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
                return back >= expected;
            }
        }
        return false;
    }

    /** Finds a tag's tokens in a stream of tokens; starts afresh after each match. */
    private static final class TagMatcher {
        private final int[] tag;
        private final int[] recent;
        private int held;

        TagMatcher(int[] tag) {
            if (tag.length == 0) {
                throw new IllegalArgumentException("a tag has at least one token");
            }
            this.tag = tag.clone();
            this.recent = new int[tag.length];
        }

        /** Whether the tag ends at {@code token}. */
        boolean matches(int token) {
            if (held == recent.length) {
                System.arraycopy(recent, 1, recent, 0, held - 1);
                held--;
            }
            recent[held++] = token;
            if (held == tag.length && Arrays.equals(recent, tag)) {
                reset();
                return true;
            }
            return false;
        }

        void reset() {
            held = 0;
        }
    }
}
