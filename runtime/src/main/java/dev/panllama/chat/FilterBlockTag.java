package dev.panllama.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;

/**
 * Jinja's filter block, {@code {% filter trim %}...{% endfilter %}}: the block's text through the filter
 * (any filter expression, with arguments or chained). Jinjava has no such tag, and refused the template
 * (fireworks' firefunction, a Llama 3 fine-tune, writes its system prompt so).
 */
final class FilterBlockTag implements Tag {

    private static final String BODY = "__panllama_filter_block__";

    @Override
    public String getName() {
        return "filter";
    }

    @Override
    public String getEndTagName() {
        return "endfilter";
    }

    @Override
    public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
        StringBuilder body = new StringBuilder();
        for (Node child : tagNode.getChildren()) {
            body.append(child.render(interpreter).getValue());
        }
        try (JinjavaInterpreter.InterpreterScopeClosable scope = interpreter.enterScope()) {
            interpreter.getContext().put(BODY, body.toString());
            return interpreter.render("{{ " + BODY + " | " + tagNode.getHelpers().trim() + " }}");
        }
    }
}
