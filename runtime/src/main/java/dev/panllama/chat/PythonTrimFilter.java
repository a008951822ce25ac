package dev.panllama.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;

/**
 * Jinja's {@code trim}: white space (or the characters given) off both ends, and an undefined value
 * an empty text, as Python's Jinja renders it. Jinjava's wrote {@code null} for a missing field
 * ({@code param_fields.description|trim} of a parameter without a description).
 */
final class PythonTrimFilter implements Filter {

    @Override
    public String getName() {
        return "trim";
    }

    @Override
    public Object filter(Object value, JinjavaInterpreter interpreter, String... args) {
        String text = value == null ? "" : value.toString();
        if (args.length == 0 || args[0] == null) {
            return text.strip();
        }
        String chars = args[0];
        int start = 0;
        int end = text.length();
        while (start < end && chars.indexOf(text.charAt(start)) >= 0) {
            start++;
        }
        while (end > start && chars.indexOf(text.charAt(end - 1)) >= 0) {
            end--;
        }
        return text.substring(start, end);
    }
}
