package dev.panllama.structured;

import java.util.List;

/**
 * Where the matcher stands inside one JSON value: the top of a {@link FrameStack}. Frames are
 * immutable; consuming a byte makes new ones.
 */
sealed interface Frame permits ObjectFrame, ArrayFrame, StringFrame, NumberFrame, LiteralFrame {

    /** Adds to {@code out} every stack that consuming {@code b} with this frame on top of {@code below} leads to. */
    void consume(int b, FrameStack below, List<FrameStack> out);

    /** Whether the value is complete here, so that what follows belongs to the frame below. */
    boolean complete();

    /** This frame once the value it pushed is complete. */
    default Frame resume(Frame child) {
        return this;
    }
}
