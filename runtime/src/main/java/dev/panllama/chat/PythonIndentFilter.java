package dev.panllama.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;

import java.util.Map;

/**
 * Jinja 3's {@code indent(width=4, first=False, blank=False)}: each line but the first (and the first
 * with {@code first}) indented by {@code width} spaces, or by {@code width} itself where it is a text;
 * blank lines only with {@code blank}. Jinjava's filter takes Jinja 2's {@code indentfirst} and refused
 * {@code first=true} (Cohere's Command R templates indent their tool list so).
 */
final class PythonIndentFilter implements AdvancedFilter {

    @Override
    public String getName() {
        return "indent";
    }

    @Override
    public Object filter(Object value, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
        Object width = PythonJsonFilter.argument(args, kwargs, 0, "width");
        String indent = width instanceof Number number ? " ".repeat(number.intValue()) : width == null ? "    " : width.toString();
        boolean first = PythonJsonFilter.truthy(PythonJsonFilter.argument(args, kwargs, 1, "first"));
        boolean blank = PythonJsonFilter.truthy(PythonJsonFilter.argument(args, kwargs, 2, "blank"));
        // Python's str.splitlines after the text gets a newline: a trailing newline is kept, as a last empty line.
        String[] lines = (value == null ? "" : value.toString()).split("\r\n|\n|\r", -1);
        StringBuilder out = new StringBuilder(lines[0]);
        for (int i = 1; i < lines.length; i++) {
            out.append('\n');
            if (blank || !lines[i].isEmpty()) {
                out.append(indent);
            }
            out.append(lines[i]);
        }
        return first ? indent + out : out.toString();
    }
}
