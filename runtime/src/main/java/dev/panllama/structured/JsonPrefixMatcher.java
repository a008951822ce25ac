package dev.panllama.structured;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * Whether the bytes so far begin a JSON document that a compiled schema accepts, and whether they
 * already are one. A pushdown automaton run on every reading at once: each {@link FrameStack} is one
 * (an {@code anyOf} or an {@code enum} may leave several open until the text tells them apart), and
 * a byte that no reading accepts leaves none. Immutable: {@link #feed} returns the matcher after it.
 *
 * <p>The document is its value with no whitespace before or after; between its tokens, the
 * whitespace {@link Whitespace} allows.
 */
final class JsonPrefixMatcher implements BytePrefix {

    private static final JsonPrefixMatcher DEAD = new JsonPrefixMatcher(List.of());

    private final List<FrameStack> stacks;

    private JsonPrefixMatcher(List<FrameStack> stacks) {
        this.stacks = stacks;
    }

    static JsonPrefixMatcher start(Shape shape) {
        List<FrameStack> stacks = new ArrayList<>();
        FrameStack.start(shape, null, stacks);
        return new JsonPrefixMatcher(List.copyOf(stacks));
    }

    /** The matcher after one more byte (0-255); {@link #isDead()} when the byte breaks every reading. */
    @Override
    public JsonPrefixMatcher feed(int b) {
        if (stacks.isEmpty()) {
            return this;
        }
        List<FrameStack> next = new ArrayList<>(stacks.size());
        for (FrameStack stack : stacks) {
            stack.feed(b, next);
        }
        if (next.isEmpty()) {
            return DEAD;
        }
        if (next.size() > 1) {
            next = new ArrayList<>(new LinkedHashSet<>(next));
        }
        return new JsonPrefixMatcher(next);
    }

    JsonPrefixMatcher feed(byte[] bytes) {
        JsonPrefixMatcher matcher = this;
        for (int i = 0; i < bytes.length && !matcher.isDead(); i++) {
            matcher = matcher.feed(bytes[i] & 0xFF);
        }
        return matcher;
    }

    JsonPrefixMatcher feed(String text) {
        return feed(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Whether no document the schema accepts begins with the bytes fed. */
    @Override
    public boolean isDead() {
        return stacks.isEmpty();
    }

    /** Whether the bytes fed are a whole document the schema accepts. */
    boolean isComplete() {
        for (FrameStack stack : stacks) {
            if (stack.documentComplete()) {
                return true;
            }
        }
        return false;
    }

    /** Whether some byte may follow. */
    boolean canContinue() {
        for (int b = 0; b < 256; b++) {
            if (!feed(b).isDead()) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code text} is a whole document the schema accepts. */
    boolean accepts(String text) {
        return feed(text).isComplete();
    }
}
