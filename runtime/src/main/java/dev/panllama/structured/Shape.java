package dev.panllama.structured;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A compiled JSON schema: what values a position in the document may hold. The compiler makes these
 * from a schema, the matcher walks them byte by byte. Immutable once compiled.
 */
sealed interface Shape {

    /** An object: declared properties in any order, each at most once, plus others when allowed. */
    record ObjectShape(List<Property> properties, long requiredMask, Shape additional) implements Shape {

        /** Whether a property not declared may appear, with {@link #additional} as its value. */
        boolean allowsOthers() {
            return additional != null;
        }

        boolean isDeclared(String name) {
            return properties.stream().anyMatch(p -> p.name().equals(name));
        }
    }

    /**
     * A declared property.
     *
     * @param key the property's name as the document must spell it: a JSON string, quotes included
     */
    record Property(String name, byte[] key, Shape value) {

        Property(String name, Shape value) {
            this(name, JsonText.write(name).getBytes(StandardCharsets.UTF_8), value);
        }
    }

    /** An array of {@code items}; {@code maxItems} -1 for no limit. */
    record ArrayShape(Shape items, int minItems, int maxItems) implements Shape {
    }

    /** A string of {@code minLength} to {@code maxLength} characters (code points); -1 for no limit. */
    record StringShape(int minLength, int maxLength) implements Shape {
    }

    /** A number, or with {@code integer} one written without fraction or exponent. */
    record NumberShape(boolean integer) implements Shape {
    }

    /** Exactly this JSON text: a {@code const}, one value of an {@code enum}, true, false or null. */
    record LiteralShape(byte[] text) implements Shape {

        static LiteralShape of(String json) {
            return new LiteralShape(json.getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public String toString() {
            return new String(text, StandardCharsets.UTF_8);
        }
    }

    /** Any one of the alternatives. */
    record ChoiceShape(List<Shape> alternatives) implements Shape {
    }

    /**
     * A {@code $ref}: the shape it names, set once compiled, so that a schema may refer to itself
     * (a tree whose children are trees).
     */
    final class ReferenceShape implements Shape {
        final String pointer;
        private Shape target;

        ReferenceShape(String pointer) {
            this.pointer = pointer;
        }

        Shape target() {
            if (target == null) {
                // Only while its own definition compiles: an enum or oneOf inside it needing its values.
                throw new IllegalArgumentException("$ref " + pointer + " is needed inside its own definition (by an enum"
                        + " or const beside an object or array that uses it), which is not supported");
            }
            return target;
        }

        boolean isResolved() {
            return target != null;
        }

        void resolve(Shape shape) {
            target = shape;
        }

        @Override
        public String toString() {
            return "$ref " + pointer;
        }
    }

    /** Any JSON value at all. */
    static Shape anyValue() {
        ReferenceShape any = new ReferenceShape("any JSON value");
        any.resolve(new ChoiceShape(List.of(
                new ObjectShape(List.of(), 0, any),
                new ArrayShape(any, 0, -1),
                new StringShape(0, -1),
                new NumberShape(false),
                LiteralShape.of("true"), LiteralShape.of("false"), LiteralShape.of("null"))));
        return any;
    }

    /** Any JSON object. */
    static Shape anyObject() {
        return new ObjectShape(List.of(), 0, anyValue());
    }
}
