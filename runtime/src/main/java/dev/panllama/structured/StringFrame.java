package dev.panllama.structured;

import java.util.List;
import java.util.Set;

/**
 * Inside a string, byte by byte: printable characters as valid UTF-8 (no lone surrogates, no overlong
 * forms), JSON's escapes, and a length in characters within the shape's bounds. As an object's key of
 * an undeclared property it also spells out the name, to refuse one that is declared or already used.
 *
 * @param length     characters so far
 * @param pending    continuation bytes the current UTF-8 character still needs, or hex digits of a {@code \}u escape
 * @param low        the lowest value the next continuation byte may take (UTF-8 excludes some after certain leads)
 * @param high       the highest
 * @param codePoint  the value of the character being read so far
 * @param name       the key read so far, or null when this string is not a key
 * @param forbidden  names the key may not take
 */
record StringFrame(int minLength, int maxLength, Part part, int length, int pending, int low, int high,
                   int codePoint, String name, Set<String> forbidden) implements Frame {

    enum Part { START, CHARACTERS, ESCAPE, HEX, CONTINUATION, CLOSED }

    static StringFrame start(Shape.StringShape shape) {
        return new StringFrame(shape.minLength(), shape.maxLength(), Part.START, 0, 0, 0, 0, 0, null, null);
    }

    /** A key whose opening quote has been read and which may be any name but {@code forbidden}. */
    static StringFrame openKey(Set<String> forbidden) {
        return new StringFrame(0, -1, Part.CHARACTERS, 0, 0, 0, 0, 0, "", forbidden);
    }

    @Override
    public void consume(int b, FrameStack below, List<FrameStack> out) {
        StringFrame next = next(b);
        if (next != null) {
            out.add(new FrameStack(next, below));
        }
    }

    private StringFrame next(int b) {
        return switch (part) {
            case START -> b == '"' ? to(Part.CHARACTERS, length, 0, 0, 0, 0, name) : null;
            case CHARACTERS -> character(b);
            case ESCAPE -> escape(b);
            case HEX -> hexDigit(b);
            case CONTINUATION -> continuation(b);
            case CLOSED -> null;
        };
    }

    private StringFrame character(int b) {
        if (b == '"') {
            boolean allowed = length >= minLength && (forbidden == null || !forbidden.contains(name));
            return allowed ? to(Part.CLOSED, length, 0, 0, 0, 0, name) : null;
        }
        if (b < 0x20 || (maxLength >= 0 && length >= maxLength)) {
            return null;
        }
        if (b == '\\') {
            return to(Part.ESCAPE, length + 1, 0, 0, 0, 0, name);
        }
        if (b < 0x80) {
            return to(Part.CHARACTERS, length + 1, 0, 0, 0, 0, append(b));
        }
        // A UTF-8 lead byte: how many continuation bytes follow and the range the first one must be in.
        if (b >= 0xC2 && b <= 0xDF) {
            return to(Part.CONTINUATION, length + 1, 1, 0x80, 0xBF, b & 0x1F, name);
        }
        if (b >= 0xE0 && b <= 0xEF) {
            int lowest = b == 0xE0 ? 0xA0 : 0x80;
            int highest = b == 0xED ? 0x9F : 0xBF;
            return to(Part.CONTINUATION, length + 1, 2, lowest, highest, b & 0x0F, name);
        }
        if (b >= 0xF0 && b <= 0xF4) {
            int lowest = b == 0xF0 ? 0x90 : 0x80;
            int highest = b == 0xF4 ? 0x8F : 0xBF;
            return to(Part.CONTINUATION, length + 1, 3, lowest, highest, b & 0x07, name);
        }
        return null;
    }

    private StringFrame continuation(int b) {
        if (b < low || b > high) {
            return null;
        }
        int value = codePoint << 6 | (b & 0x3F);
        if (pending > 1) {
            return to(Part.CONTINUATION, length, pending - 1, 0x80, 0xBF, value, name);
        }
        return to(Part.CHARACTERS, length, 0, 0, 0, 0, append(value));
    }

    private StringFrame escape(int b) {
        int escaped = switch (b) {
            case '"', '\\', '/' -> b;
            case 'b' -> '\b';
            case 'f' -> '\f';
            case 'n' -> '\n';
            case 'r' -> '\r';
            case 't' -> '\t';
            case 'u' -> -1;
            default -> -2;
        };
        if (escaped == -2) {
            return null;
        }
        if (escaped == -1) {
            return to(Part.HEX, length, 4, 0, 0, 0, name);
        }
        return to(Part.CHARACTERS, length, 0, 0, 0, 0, append(escaped));
    }

    private StringFrame hexDigit(int b) {
        int digit = Character.digit(b, 16);
        if (digit < 0) {
            return null;
        }
        int value = codePoint << 4 | digit;
        // Two digits in, the escape's high byte is known: refuse surrogates (D800-DFFF) there, not later.
        if (pending == 3 && value >= 0xD8 && value <= 0xDF) {
            return null;
        }
        if (pending > 1) {
            return to(Part.HEX, length, pending - 1, 0, 0, value, name);
        }
        return to(Part.CHARACTERS, length, 0, 0, 0, 0, append(value));
    }

    private String append(int character) {
        return name == null ? null : name + Character.toString(character);
    }

    private StringFrame to(Part value, int newLength, int newPending, int newLow, int newHigh, int newCodePoint, String newName) {
        return new StringFrame(minLength, maxLength, value, newLength, newPending, newLow, newHigh, newCodePoint, newName, forbidden);
    }

    @Override
    public boolean complete() {
        return part == Part.CLOSED;
    }
}
