package dev.panllama.structured;

import java.util.List;
import java.util.Objects;

/**
 * Inside an array: items of the shape's item shape, a comma only while another item fits, the
 * closing bracket only once there are enough.
 *
 * @param count  items begun so far
 * @param gap    the whitespace since the last token ({@link Whitespace})
 */
record ArrayFrame(Shape.ArrayShape shape, Part part, int count, int gap) implements Frame {

    enum Part { START, OPEN, ITEM_READ, COMMA_READ, CLOSED }

    static ArrayFrame start(Shape.ArrayShape shape) {
        return new ArrayFrame(shape, Part.START, 0, 0);
    }

    @Override
    public void consume(int b, FrameStack below, List<FrameStack> out) {
        switch (part) {
            case START -> {
                if (b == '[') {
                    out.add(new FrameStack(to(Part.OPEN, 0), below));
                }
            }
            case CLOSED -> { }
            default -> {
                if (Whitespace.is(b)) {
                    int next = Whitespace.next(gap, b);
                    if (next >= 0) {
                        out.add(new FrameStack(new ArrayFrame(shape, part, count, next), below));
                    }
                } else if (part == Part.ITEM_READ) {
                    if (b == ']' && count >= shape.minItems()) {
                        out.add(new FrameStack(to(Part.CLOSED, count), below));
                    } else if (b == ',' && fitsAnother()) {
                        out.add(new FrameStack(to(Part.COMMA_READ, count), below));
                    }
                } else if (part == Part.OPEN && b == ']') {
                    if (shape.minItems() == 0) {
                        out.add(new FrameStack(to(Part.CLOSED, 0), below));
                    }
                } else if (fitsAnother()) {
                    FrameStack.startWith(shape.items(), b, new FrameStack(to(Part.ITEM_READ, count + 1), below), out);
                }
            }
        }
    }

    private boolean fitsAnother() {
        return shape.maxItems() < 0 || count < shape.maxItems();
    }

    private ArrayFrame to(Part value, int newCount) {
        return new ArrayFrame(shape, value, newCount, Whitespace.NONE);
    }

    @Override
    public boolean complete() {
        return part == Part.CLOSED;
    }

    @Override
    public boolean equals(Object other) {
        // Shapes are compared by identity: they come from one compiled schema, and may be recursive.
        return other instanceof ArrayFrame frame && frame.shape == shape && frame.part == part && frame.count == count
                && frame.gap == gap;
    }

    @Override
    public int hashCode() {
        return Objects.hash(System.identityHashCode(shape), part, count, gap);
    }
}
