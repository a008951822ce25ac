package dev.panllama.structured;

import java.util.List;

/** Inside a fixed text: a const or enum value, true, false, null, or a declared property's name. */
record LiteralFrame(byte[] text, int matched) implements Frame {

    @Override
    public void consume(int b, FrameStack below, List<FrameStack> out) {
        if (matched < text.length && (text[matched] & 0xFF) == b) {
            out.add(new FrameStack(new LiteralFrame(text, matched + 1), below));
        }
    }

    @Override
    public boolean complete() {
        return matched == text.length;
    }

    @Override
    public boolean equals(Object other) {
        // The text is shared with the shape, so identity is enough and keeps comparisons cheap.
        return other instanceof LiteralFrame frame && frame.text == text && frame.matched == matched;
    }

    @Override
    public int hashCode() {
        return System.identityHashCode(text) * 31 + matched;
    }
}
