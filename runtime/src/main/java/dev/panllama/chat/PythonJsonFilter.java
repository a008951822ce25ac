package dev.panllama.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;

import java.math.BigDecimal;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Jinja's {@code tojson} as Hugging Face renders chat templates, and llama.cpp after it: Python's
 * {@code json.dumps(value, ensure_ascii=False)}, keys in their order, with the filter's arguments
 * {@code ensure_ascii}, {@code indent}, {@code separators} and {@code sort_keys} (by keyword or in
 * that order). Without an indent, items are separated by {@code ", "} and keys by {@code ": "}; with
 * one, each item is on a line of its own. Jinjava's own filter writes compact JSON whatever it is
 * asked, so that Meta's Llama 3.1 template listed the tools (its {@code indent=4}) and wrote back each
 * call's arguments otherwise than the model read them in training.
 * <p>
 * JSON read here holds every number as a double: an integral one is written as an integer, as the
 * JSON it came from almost always wrote it; any other as Python's {@code repr} writes a float.
 */
final class PythonJsonFilter implements AdvancedFilter {

    @Override
    public String getName() {
        return "tojson";
    }

    @Override
    public Object filter(Object value, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
        boolean ensureAscii = truthy(argument(args, kwargs, 0, "ensure_ascii"));
        Object indentArgument = argument(args, kwargs, 1, "indent");
        Integer indent = indentArgument instanceof Number number ? number.intValue() : null;
        List<?> separators = argument(args, kwargs, 2, "separators") instanceof Collection<?> given ? List.copyOf(given) : List.of();
        boolean sortKeys = truthy(argument(args, kwargs, 3, "sort_keys"));
        String itemSeparator = !separators.isEmpty() ? String.valueOf(separators.get(0)) : indent == null ? ", " : ",";
        String keySeparator = separators.size() > 1 ? String.valueOf(separators.get(1)) : ": ";
        return dumps(value, indent, itemSeparator, keySeparator, sortKeys, ensureAscii);
    }

    /** Python's {@code json.dumps} of {@code value} with these arguments ({@code indent} null for none). */
    static String dumps(Object value, Integer indent, String itemSeparator, String keySeparator, boolean sortKeys, boolean ensureAscii) {
        StringBuilder out = new StringBuilder();
        new Writer(out, indent, itemSeparator, keySeparator, sortKeys, ensureAscii).write(value, 0);
        return out.toString();
    }

    static Object argument(Object[] args, Map<String, Object> kwargs, int position, String name) {
        if (kwargs != null && kwargs.containsKey(name)) {
            return kwargs.get(name);
        }
        return args != null && position < args.length ? args[position] : null;
    }

    static boolean truthy(Object value) {
        return value instanceof Boolean bool ? bool : value != null && !"false".equalsIgnoreCase(String.valueOf(value));
    }

    /** An integral double as an integer; another as Python's repr of a float (fixed from 1e-4 to below 1e16, else d.ddde±XX). */
    static String number(double value) {
        if (Double.isNaN(value)) {
            return "NaN";
        }
        if (Double.isInfinite(value)) {
            return value > 0 ? "Infinity" : "-Infinity";
        }
        if (value == Math.rint(value) && Math.abs(value) < 1e16) {
            return Long.toString((long) value);
        }
        BigDecimal decimal = new BigDecimal(Double.toString(value)).stripTrailingZeros();
        int exponent = decimal.precision() - decimal.scale() - 1;
        if (exponent >= -4 && exponent < 16) {
            return decimal.toPlainString();
        }
        String digits = decimal.unscaledValue().abs().toString();
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return (value < 0 ? "-" : "") + mantissa + "e" + (exponent < 0 ? "-" : "+") + String.format("%02d", Math.abs(exponent));
    }

    private record Writer(StringBuilder out, Integer indent, String itemSeparator, String keySeparator, boolean sortKeys,
                          boolean ensureAscii) {

        void write(Object value, int level) {
            switch (value) {
                case null -> out.append("null");
                case Boolean bool -> out.append(bool ? "true" : "false");
                case Double number -> out.append(number(number));
                case Float number -> out.append(number(number.doubleValue()));
                case Number number -> out.append(number);
                case Map<?, ?> map -> object(map, level);
                case Collection<?> items -> array(List.copyOf(items), level);
                case Object[] items -> array(Arrays.asList(items), level);
                default -> string(value.toString());
            }
        }

        private void object(Map<?, ?> map, int level) {
            if (map.isEmpty()) {
                out.append("{}");
                return;
            }
            Map<?, ?> entries = map;
            if (sortKeys) {
                TreeMap<String, Object> sorted = new TreeMap<>();
                map.forEach((key, value) -> sorted.put(String.valueOf(key), value));
                entries = sorted;
            }
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> entry : entries.entrySet()) {
                separate(first, level + 1);
                first = false;
                string(String.valueOf(entry.getKey()));
                out.append(keySeparator);
                write(entry.getValue(), level + 1);
            }
            newline(level);
            out.append('}');
        }

        private void array(List<?> items, int level) {
            if (items.isEmpty()) {
                out.append("[]");
                return;
            }
            out.append('[');
            for (int i = 0; i < items.size(); i++) {
                separate(i == 0, level + 1);
                write(items.get(i), level + 1);
            }
            newline(level);
            out.append(']');
        }

        /** Before an item: the separator after the one before it, then its line when indenting. */
        private void separate(boolean first, int level) {
            if (!first) {
                out.append(itemSeparator);
            }
            newline(level);
        }

        private void newline(int level) {
            if (indent != null) {
                out.append('\n').append(" ".repeat(Math.max(0, indent) * level));
            }
        }

        /** Python's escapes: JsonWriter's but for \b and \f, short here, and non-ASCII with ensure_ascii. */
        private void string(String text) {
            out.append('"');
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    case '\b' -> out.append("\\b");
                    case '\f' -> out.append("\\f");
                    default -> {
                        if (c < 0x20 || ensureAscii && c > 0x7e) {
                            out.append(String.format("\\u%04x", (int) c));
                        } else {
                            out.append(c);
                        }
                    }
                }
            }
            out.append('"');
        }
    }
}
