package dev.panllama.structured;

import java.util.List;

/**
 * Inside a number: {@code -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?}, or only the integer part for
 * an integer. Each part has a length limit, so a number cannot grow forever and stays within what a
 * double (or a long, for integers) holds exactly.
 */
record NumberFrame(boolean integer, Part part, int digits) implements Frame {

    static final int MAX_INTEGER_DIGITS = 15;
    static final int MAX_FRACTION_DIGITS = 15;
    static final int MAX_EXPONENT_DIGITS = 2;

    enum Part { START, MINUS, ZERO, INTEGER, POINT, FRACTION, E, EXPONENT_SIGN, EXPONENT }

    static NumberFrame start(Shape.NumberShape shape) {
        return new NumberFrame(shape.integer(), Part.START, 0);
    }

    @Override
    public void consume(int b, FrameStack below, List<FrameStack> out) {
        NumberFrame next = next(b);
        if (next != null) {
            out.add(new FrameStack(next, below));
        }
    }

    private NumberFrame next(int b) {
        boolean digit = b >= '0' && b <= '9';
        return switch (part) {
            case START -> b == '-' ? to(Part.MINUS, 0) : firstDigit(b);
            case MINUS -> firstDigit(b);
            case ZERO -> afterInteger(b);
            case INTEGER -> digit && digits < MAX_INTEGER_DIGITS ? to(Part.INTEGER, digits + 1) : afterInteger(b);
            case POINT -> digit ? to(Part.FRACTION, 1) : null;
            case FRACTION -> digit && digits < MAX_FRACTION_DIGITS ? to(Part.FRACTION, digits + 1) : exponent(b);
            case E -> b == '+' || b == '-' ? to(Part.EXPONENT_SIGN, 0) : digit ? to(Part.EXPONENT, 1) : null;
            case EXPONENT_SIGN -> digit ? to(Part.EXPONENT, 1) : null;
            case EXPONENT -> digit && digits < MAX_EXPONENT_DIGITS ? to(Part.EXPONENT, digits + 1) : null;
        };
    }

    private NumberFrame firstDigit(int b) {
        if (b == '0') {
            return to(Part.ZERO, 1);
        }
        return b >= '1' && b <= '9' ? to(Part.INTEGER, 1) : null;
    }

    private NumberFrame afterInteger(int b) {
        if (integer) {
            return null;
        }
        return b == '.' ? to(Part.POINT, 0) : exponent(b);
    }

    private NumberFrame exponent(int b) {
        return b == 'e' || b == 'E' ? to(Part.E, 0) : null;
    }

    private NumberFrame to(Part value, int count) {
        return new NumberFrame(integer, value, count);
    }

    @Override
    public boolean complete() {
        return part == Part.ZERO || part == Part.INTEGER || part == Part.FRACTION || part == Part.EXPONENT;
    }
}
