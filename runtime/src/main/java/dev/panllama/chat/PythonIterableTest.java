package dev.panllama.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.exptest.ExpTest;

import java.util.Map;

/**
 * Jinja's {@code iterable} test as Python answers it: whatever {@code iter()} takes, strings and
 * mappings included. Jinjava's takes lists and arrays only, so that Meta's Llama 3.1 template, which
 * writes a tool's result with {@code tojson} when {@code message.content is iterable}, left a text
 * result unquoted where Hugging Face and llama.cpp quote it.
 */
final class PythonIterableTest implements ExpTest {

    @Override
    public String getName() {
        return "iterable";
    }

    @Override
    public boolean evaluate(Object value, JinjavaInterpreter interpreter, Object... args) {
        return value instanceof CharSequence || value instanceof Iterable<?> || value instanceof Map<?, ?>
                || value != null && value.getClass().isArray();
    }
}
