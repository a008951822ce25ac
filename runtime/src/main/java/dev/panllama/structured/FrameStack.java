package dev.panllama.structured;

import java.util.List;

/**
 * One way to read the document so far: the frames of the values it is inside, innermost on top.
 * Persistent: a new top shares everything below it. {@code below} is null for the document's value.
 */
record FrameStack(Frame top, FrameStack below) {

    /** Adds the stacks that start a value of {@code shape} on {@code below}: one per alternative. */
    static void start(Shape shape, FrameStack below, List<FrameStack> out) {
        switch (shape) {
            case Shape.ObjectShape object -> out.add(new FrameStack(ObjectFrame.start(object), below));
            case Shape.ArrayShape array -> out.add(new FrameStack(ArrayFrame.start(array), below));
            case Shape.StringShape string -> out.add(new FrameStack(StringFrame.start(string), below));
            case Shape.NumberShape number -> out.add(new FrameStack(NumberFrame.start(number), below));
            case Shape.LiteralShape literal -> out.add(new FrameStack(new LiteralFrame(literal.text(), 0), below));
            case Shape.ChoiceShape choice -> {
                for (Shape alternative : choice.alternatives()) {
                    start(alternative, below, out);
                }
            }
            case Shape.ReferenceShape reference -> start(reference.target(), below, out);
        }
    }

    /** Adds the stacks that start a value of {@code shape} on {@code below} with its first byte {@code b}. */
    static void startWith(Shape shape, int b, FrameStack below, List<FrameStack> out) {
        List<FrameStack> starts = new java.util.ArrayList<>(2);
        start(shape, below, starts);
        for (FrameStack stack : starts) {
            stack.feed(b, out);
        }
    }

    /** Adds the stacks that consuming {@code b} leads to: by the top frame, or by those below once it is complete. */
    void feed(int b, List<FrameStack> out) {
        top.consume(b, below, out);
        if (below != null && top.complete()) {
            Frame parent = below.top.resume(top);
            new FrameStack(parent, below.below).feed(b, out);
        }
    }

    /** Whether the document could end here. */
    boolean documentComplete() {
        return below == null && top.complete();
    }
}
