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
        return PythonMethods.strip(value == null ? "" : value.toString(), args.length == 0 ? null : args[0]);
    }
}
