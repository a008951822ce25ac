package dev.panllama.structured;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Inside an object: its declared properties in any order, each at most once, undeclared ones only
 * where the shape allows them, and the closing brace only once every required property is there.
 *
 * @param seen    a bit per declared property already written
 * @param others  undeclared property names already written
 * @param pending the shape of the value whose key was just read
 * @param gap     the whitespace since the last token ({@link Whitespace})
 */
record ObjectFrame(Shape.ObjectShape shape, Part part, long seen, List<String> others, Shape pending, int gap)
        implements Frame {

    /** Declared properties are tracked as bits of a long. */
    static final int MAX_PROPERTIES = 64;

    enum Part { START, OPEN, KEY_READ, COLON_READ, VALUE_READ, COMMA_READ, CLOSED }

    static ObjectFrame start(Shape.ObjectShape shape) {
        return new ObjectFrame(shape, Part.START, 0, List.of(), null, 0);
    }

    @Override
    public void consume(int b, FrameStack below, List<FrameStack> out) {
        if (part == Part.START) {
            if (b == '{') {
                out.add(new FrameStack(to(Part.OPEN, seen, null), below));
            }
            return;
        }
        if (part == Part.CLOSED) {
            return;
        }
        if (Whitespace.is(b)) {
            int next = Whitespace.next(gap, b);
            if (next >= 0) {
                out.add(new FrameStack(new ObjectFrame(shape, part, seen, others, pending, next), below));
            }
            return;
        }
        switch (part) {
            case OPEN -> {
                if (b == '}') {
                    close(below, out);
                } else if (b == '"') {
                    keys(below, out);
                }
            }
            case COMMA_READ -> {
                if (b == '"') {
                    keys(below, out);
                }
            }
            case KEY_READ -> {
                if (b == ':') {
                    out.add(new FrameStack(to(Part.COLON_READ, seen, pending), below));
                }
            }
            case COLON_READ -> FrameStack.startWith(pending, b, new FrameStack(to(Part.VALUE_READ, seen, null), below), out);
            case VALUE_READ -> {
                if (b == '}') {
                    close(below, out);
                } else if (b == ',' && morePossible()) {
                    out.add(new FrameStack(to(Part.COMMA_READ, seen, null), below));
                }
            }
            default -> throw new IllegalStateException("unexpected part " + part);
        }
    }

    private void close(FrameStack below, List<FrameStack> out) {
        if ((shape.requiredMask() & ~seen) == 0) {
            out.add(new FrameStack(to(Part.CLOSED, seen, null), below));
        }
    }

    /** The opening quote of a key: one way on per declared property not yet written, one for any other name. */
    private void keys(FrameStack below, List<FrameStack> out) {
        List<Shape.Property> properties = shape.properties();
        for (int i = 0; i < properties.size(); i++) {
            if ((seen & 1L << i) == 0) {
                Shape.Property property = properties.get(i);
                FrameStack waiting = new FrameStack(to(Part.KEY_READ, seen | 1L << i, property.value()), below);
                out.add(new FrameStack(new LiteralFrame(property.key(), 1), waiting));
            }
        }
        if (shape.allowsOthers()) {
            Set<String> forbidden = new HashSet<>(others);
            properties.forEach(p -> forbidden.add(p.name()));
            FrameStack waiting = new FrameStack(to(Part.KEY_READ, seen, shape.additional()), below);
            out.add(new FrameStack(StringFrame.openKey(forbidden), waiting));
        }
    }

    private boolean morePossible() {
        int declared = shape.properties().size();
        long all = declared == 64 ? -1L : (1L << declared) - 1;
        return shape.allowsOthers() || (all & ~seen) != 0;
    }

    @Override
    public Frame resume(Frame child) {
        if (part == Part.KEY_READ && child instanceof StringFrame key && key.name() != null) {
            List<String> names = new ArrayList<>(others);
            names.add(key.name());
            return new ObjectFrame(shape, part, seen, List.copyOf(names), pending, gap);
        }
        return this;
    }

    private ObjectFrame to(Part value, long newSeen, Shape newPending) {
        return new ObjectFrame(shape, value, newSeen, others, newPending, Whitespace.NONE);
    }

    @Override
    public boolean complete() {
        return part == Part.CLOSED;
    }

    @Override
    public boolean equals(Object other) {
        // Shapes are compared by identity: they come from one compiled schema, and may be recursive.
        return other instanceof ObjectFrame frame && frame.shape == shape && frame.part == part && frame.seen == seen
                && frame.others.equals(others) && frame.pending == pending && frame.gap == gap;
    }

    @Override
    public int hashCode() {
        return Objects.hash(System.identityHashCode(shape), part, seen, others, System.identityHashCode(pending), gap);
    }
}
