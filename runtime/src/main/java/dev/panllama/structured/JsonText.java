package dev.panllama.structured;

import dev.panllama.json.JsonWriter;

import java.util.List;
import java.util.Map;

/**
 * The one spelling the constrained output uses for a schema's fixed values (a {@code const}, an
 * {@code enum}'s values, property names): compact, integral numbers without a fraction, strings with
 * only the escapes JSON requires, so that the document spells them as the matcher expects.
 */
final class JsonText {

    /** Integral numbers up to this size are written as integers; 2^53, where doubles stop being exact. */
    private static final double EXACT_INTEGERS = 9007199254740992.0;

    private JsonText() {
    }

    /** The JSON text of a value as {@code dev.panllama.json.JsonReader} returns it. */
    static String write(Object value) {
        StringBuilder out = new StringBuilder();
        write(value, out);
        return out.toString();
    }

    private static void write(Object value, StringBuilder out) {
        switch (value) {
            case null -> out.append("null");
            case String s -> string(s, out);
            case Boolean b -> out.append(b);
            case Double d -> number(d, out);
            case Map<?, ?> map -> {
                out.append('{');
                String separator = "";
                for (Map.Entry<?, ?> entry : map.entrySet()) {
                    out.append(separator);
                    string((String) entry.getKey(), out);
                    out.append(':');
                    write(entry.getValue(), out);
                    separator = ",";
                }
                out.append('}');
            }
            case List<?> list -> {
                out.append('[');
                String separator = "";
                for (Object item : list) {
                    out.append(separator);
                    write(item, out);
                    separator = ",";
                }
                out.append(']');
            }
            default -> throw new IllegalArgumentException("not a JSON value: " + value.getClass().getSimpleName());
        }
    }

    private static void number(double d, StringBuilder out) {
        if (!Double.isFinite(d)) {
            throw new IllegalArgumentException("the number " + d + " cannot be written as JSON");
        }
        if (d == Math.rint(d) && Math.abs(d) <= EXACT_INTEGERS) {
            out.append((long) d);
        } else {
            out.append(d);
        }
    }

    private static void string(String s, StringBuilder out) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isSurrogate(c) && !(Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1)))
                    && !(Character.isLowSurrogate(c) && i > 0 && Character.isHighSurrogate(s.charAt(i - 1)))) {
                throw new IllegalArgumentException("the string value has a lone UTF-16 surrogate");
            }
        }
        JsonWriter.string(s, out);
    }
}
