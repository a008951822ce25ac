package dev.panllama.structured;

import java.util.BitSet;

/**
 * Whether two shapes can accept one same value: {@code oneOf} needs exactly one alternative to match,
 * which the matcher, running every alternative at once, can only promise when no value matches two.
 */
final class ShapeOverlap {

    private ShapeOverlap() {
    }

    /** True only when no value matches both; false when unsure. */
    static boolean disjoint(Shape a, Shape b) {
        return disjoint(a, b, 0);
    }

    private static boolean disjoint(Shape a, Shape b, int depth) {
        if (depth > 32) {
            return false;
        }
        if (a instanceof Shape.ReferenceShape reference) {
            return disjoint(reference.target(), b, depth + 1);
        }
        if (b instanceof Shape.ReferenceShape reference) {
            return disjoint(a, reference.target(), depth + 1);
        }
        if (a instanceof Shape.ChoiceShape choice) {
            return choice.alternatives().stream().allMatch(x -> disjoint(x, b, depth + 1));
        }
        if (b instanceof Shape.ChoiceShape choice) {
            return choice.alternatives().stream().allMatch(x -> disjoint(a, x, depth + 1));
        }
        if (a instanceof Shape.LiteralShape literal) {
            return !JsonPrefixMatcher.start(b).accepts(literal.toString());
        }
        if (b instanceof Shape.LiteralShape literal) {
            return !JsonPrefixMatcher.start(a).accepts(literal.toString());
        }
        if (!firstBytes(a).intersects(firstBytes(b))) {
            return true;
        }
        if (a instanceof Shape.ObjectShape x && b instanceof Shape.ObjectShape y) {
            // A discriminator: a property both require whose values cannot be equal.
            for (int i = 0; i < x.properties().size(); i++) {
                Shape.Property px = x.properties().get(i);
                for (int j = 0; j < y.properties().size(); j++) {
                    Shape.Property py = y.properties().get(j);
                    if (px.name().equals(py.name()) && (x.requiredMask() & 1L << i) != 0
                            && (y.requiredMask() & 1L << j) != 0 && disjoint(px.value(), py.value(), depth + 1)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /** The bytes a value of {@code shape} can begin with (choices and references are resolved by the caller). */
    private static BitSet firstBytes(Shape shape) {
        BitSet bytes = new BitSet(256);
        switch (shape) {
            case Shape.ObjectShape ignored -> bytes.set('{');
            case Shape.ArrayShape ignored -> bytes.set('[');
            case Shape.StringShape ignored -> bytes.set('"');
            case Shape.NumberShape ignored -> {
                bytes.set('-');
                bytes.set('0', '9' + 1);
            }
            case Shape.LiteralShape literal -> bytes.set(literal.text()[0] & 0xFF);
            default -> throw new IllegalStateException("unresolved shape " + shape);
        }
        return bytes;
    }
}
