package dev.panllama.chat;

import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The methods of Python's strings and dicts that chat templates call ({@code content.strip()},
 * {@code text.startswith('<think>')}, {@code message.get('reasoning_content', '')},
 * {@code tool.parameters.properties.items()}, ...), which Jinjava, calling Java's methods, does not
 * have. Asked before Jinjava's own resolvers, it answers only these names on a string or a map, so
 * the sandbox stays as it is for everything else.
 */
final class PythonMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        Object[] args = params == null ? new Object[0] : params;
        Object result;
        if (base instanceof CharSequence text) {
            result = stringMethod(text.toString(), String.valueOf(method), args);
        } else if (base instanceof Map<?, ?> map) {
            result = mapMethod(map, String.valueOf(method), args);
        } else {
            return null;
        }
        if (result == UNKNOWN) {
            return null;
        }
        context.setPropertyResolved(true);
        return result;
    }

    /** What a method this class does not answer returns, for the next resolver to try. */
    private static final Object UNKNOWN = new Object();

    private static Object stringMethod(String text, String method, Object[] args) {
        return switch (method) {
            case "strip" -> strip(text, chars(args));
            case "lstrip" -> lstrip(text, chars(args));
            case "rstrip" -> rstrip(text, chars(args));
            case "startswith" -> args.length >= 1 && anyOf(args[0], text::startsWith);
            case "endswith" -> args.length >= 1 && anyOf(args[0], text::endsWith);
            case "split" -> split(text, args);
            case "upper" -> text.toUpperCase(Locale.ROOT);
            case "lower" -> text.toLowerCase(Locale.ROOT);
            case "replace" -> args.length >= 2 ? text.replace(String.valueOf(args[0]), String.valueOf(args[1])) : UNKNOWN;
            case "find" -> args.length >= 1 ? (long) text.indexOf(String.valueOf(args[0])) : UNKNOWN;
            case "format" -> format(text, args);
            default -> UNKNOWN;
        };
    }

    private static Object mapMethod(Map<?, ?> map, String method, Object[] args) {
        return switch (method) {
            case "get" -> args.length == 1 || args.length == 2
                    ? (map.containsKey(args[0]) ? map.get(args[0]) : args.length == 2 ? args[1] : null) : UNKNOWN;
            case "items" -> args.length == 0 ? new ArrayList<>(map.entrySet()) : UNKNOWN;
            case "keys" -> args.length == 0 ? new ArrayList<>(map.keySet()) : UNKNOWN;
            case "values" -> args.length == 0 ? new ArrayList<>(map.values()) : UNKNOWN;
            default -> UNKNOWN;
        };
    }

    /**
     * Python's {@code str.format} with positional fields only ({@code '<think{}>'.format(tag)}, {@code {0}}, and
     * {@code {{}} / {@code }}} for braces), each value as Python's {@code str} writes it; a field with a name or a
     * format spec is not answered here.
     */
    private static Object format(String text, Object[] args) {
        StringBuilder out = new StringBuilder();
        int next = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if ((c == '{' || c == '}') && i + 1 < text.length() && text.charAt(i + 1) == c) {
                out.append(c);
                i++;
            } else if (c == '{') {
                int close = text.indexOf('}', i);
                String field = close < 0 ? "x" : text.substring(i + 1, close);
                int index = field.isEmpty() ? next++ : field.chars().allMatch(Character::isDigit) ? Integer.parseInt(field) : -1;
                if (index < 0 || index >= args.length) {
                    return UNKNOWN;
                }
                out.append(pythonStr(args[index]));
                i = close;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    /** Python's {@code str}: what a template prints of a value ({@link PythonContainers#str}), and None for none. */
    private static String pythonStr(Object value) {
        return value == null ? "None" : PythonContainers.str(value);
    }

    /** The characters to strip: Python's argument, or white space when none (or None) is given. */
    private static String chars(Object[] args) {
        return args.length >= 1 && args[0] != null ? String.valueOf(args[0]) : null;
    }

    /** Python's {@code str.strip(chars)}: {@code chars} off both ends, or white space when null (the {@code trim} filter's too). */
    static String strip(String text, String chars) {
        return rstrip(lstrip(text, chars), chars);
    }

    private static String lstrip(String text, String chars) {
        int start = 0;
        while (start < text.length() && strips(text.charAt(start), chars)) {
            start++;
        }
        return text.substring(start);
    }

    private static String rstrip(String text, String chars) {
        int end = text.length();
        while (end > 0 && strips(text.charAt(end - 1), chars)) {
            end--;
        }
        return text.substring(0, end);
    }

    private static boolean strips(char c, String chars) {
        return chars == null ? Character.isWhitespace(c) : chars.indexOf(c) >= 0;
    }

    /** {@code startswith} and {@code endswith} take one prefix or a tuple (list) of them. */
    private static boolean anyOf(Object candidates, java.util.function.Predicate<String> test) {
        if (candidates instanceof Iterable<?> several) {
            for (Object candidate : several) {
                if (test.test(String.valueOf(candidate))) {
                    return true;
                }
            }
            return false;
        }
        return test.test(String.valueOf(candidates));
    }

    /** Python's {@code split()}: on runs of white space, dropping empty ends; {@code split(sep[, maxsplit])}: on each sep. */
    private static List<String> split(String text, Object[] args) {
        String separator = args.length >= 1 && args[0] != null ? String.valueOf(args[0]) : null;
        int maxSplit = args.length >= 2 && args[1] instanceof Number number ? number.intValue() : -1;
        List<String> parts = new ArrayList<>();
        if (separator == null) {
            String rest = text.strip();
            while (!rest.isEmpty()) {
                if (maxSplit >= 0 && parts.size() == maxSplit) {
                    parts.add(rest);
                    return parts;
                }
                int space = 0;
                while (space < rest.length() && !Character.isWhitespace(rest.charAt(space))) {
                    space++;
                }
                parts.add(rest.substring(0, space));
                rest = rest.substring(space).stripLeading();
            }
            return parts;
        }
        if (separator.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        int from = 0;
        for (int at = text.indexOf(separator); at >= 0 && (maxSplit < 0 || parts.size() < maxSplit); at = text.indexOf(separator, from)) {
            parts.add(text.substring(from, at));
            from = at + separator.length();
        }
        parts.add(text.substring(from));
        return parts;
    }

    // Properties are Jinjava's to resolve: this resolver answers method calls only.

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        // not resolved here
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return Collections.emptyIterator();
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
