package dev.panllama.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Jinja's {@code items} filter ({@code for name, schema in tool.parameters.properties|items}): a
 * mapping's key and value pairs, in order, and none for an undefined value. Jinjava has no such
 * filter, and the loop went round no times.
 */
final class ItemsFilter implements Filter {

    @Override
    public String getName() {
        return "items";
    }

    @Override
    public Object filter(Object value, JinjavaInterpreter interpreter, String... args) {
        return value instanceof Map<?, ?> map ? new ArrayList<>(map.entrySet()) : List.of();
    }
}
