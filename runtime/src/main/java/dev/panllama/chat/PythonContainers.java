package dev.panllama.chat;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a template is given, with its dicts and lists printed as Python prints them ({@code {{ tools }}}
 * writes {@code [{'type': 'function', ...}]}, as Apriel's templates show the model its tools) rather than
 * as Java does ({@code [{type=function, ...}]}). Only printing changes: they are the same maps and lists.
 */
final class PythonContainers {

    private PythonContainers() {
    }

    /** {@code value} with each map and list in it, at any depth, one that prints as Python's. Others as they are. */
    static Object of(Object value) {
        if (value instanceof PythonPrinted) {
            return value;
        }
        if (value instanceof Map<?, ?> map) {
            Dict dict = new Dict();
            map.forEach((key, item) -> dict.put(String.valueOf(key), of(item)));
            return dict;
        }
        if (value instanceof Collection<?> items) {
            ListOf list = new ListOf();
            items.forEach(item -> list.add(of(item)));
            return list;
        }
        return value;
    }

    /** A value whose own {@code toString} is what a template should print of it. */
    interface PythonPrinted {
    }

    static class Dict extends LinkedHashMap<String, Object> implements PythonPrinted {
        @Override
        public String toString() {
            return repr(this);
        }
    }

    static final class ListOf extends ArrayList<Object> implements PythonPrinted {
        @Override
        public String toString() {
            return repr(this);
        }
    }

    /**
     * What Python's {@code str} writes of a value a template prints: {@code True}/{@code False}, a dict or list as its
     * repr, nothing for none (Jinjava cannot tell it from an undefined value, which Jinja prints as nothing); a
     * value of ours as its own {@code toString} (a call's arguments print as JSON), anything else as Java's.
     */
    static String str(Object value) {
        return switch (value) {
            case null -> "";
            case PythonPrinted printed -> printed.toString();
            case Boolean bool -> bool ? "True" : "False";
            case Map<?, ?> map -> repr(map);
            case Collection<?> items -> repr(items);
            default -> value.toString();
        };
    }

    /** Python's {@code repr} of a value as JSON gives them: dicts, lists, texts, numbers, booleans and None. */
    static String repr(Object value) {
        StringBuilder out = new StringBuilder();
        repr(value, out);
        return out.toString();
    }

    private static void repr(Object value, StringBuilder out) {
        switch (value) {
            case null -> out.append("None");
            case Boolean bool -> out.append(bool ? "True" : "False");
            case CharSequence text -> text(text.toString(), out);
            case Double number -> out.append(PythonJsonFilter.number(number));
            case Float number -> out.append(PythonJsonFilter.number(number.doubleValue()));
            case Map<?, ?> map -> {
                out.append('{');
                String separator = "";
                for (Map.Entry<?, ?> entry : map.entrySet()) {
                    out.append(separator);
                    repr(entry.getKey(), out);
                    out.append(": ");
                    repr(entry.getValue(), out);
                    separator = ", ";
                }
                out.append('}');
            }
            case Collection<?> items -> {
                out.append('[');
                String separator = "";
                for (Object item : items) {
                    out.append(separator);
                    repr(item, out);
                    separator = ", ";
                }
                out.append(']');
            }
            default -> out.append(value);
        }
    }

    /** A text as Python's repr quotes it: in single quotes, or double where it holds a single quote and no double one. */
    private static void text(String text, StringBuilder out) {
        char quote = text.indexOf('\'') >= 0 && text.indexOf('"') < 0 ? '"' : '\'';
        out.append(quote);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c == quote) {
                        out.append('\\').append(c);
                    } else if (c < 0x20 || c == 0x7f) {
                        out.append(String.format("\\x%02x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append(quote);
    }
}
