package dev.panllama.chat;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.hubspot.jinjava.el.ext.AdditionOperator;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.misc.TypeConverter;
import jinjava.de.odysseus.el.tree.TreeBuilder;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.javax.el.ExpressionFactory;

import java.util.Properties;

/**
 * {@code +} in a chat template as llama.cpp's Jinja computes it, where Jinjava's differs: a missing or
 * none value added to a text is an empty text ({@code message.reasoning + '\n'} writes "\n" where Jinjava
 * wrote "null\n", into the prompt), and added to anything else is an error, as in Python's Jinja, where
 * Jinjava took it for 0 or a list item. Everything else {@code +} does is Jinjava's.
 */
final class JinjaAddition extends AdditionOperator {

    private static final JinjaAddition OP = new JinjaAddition();

    private JinjaAddition() {
    }

    /** Jinjava's expression language with this {@code +}; Jinjava's own settings otherwise. */
    static ExpressionFactory expressionFactory() {
        return new ExpressionFactoryImpl(new Properties(), new TruthyTypeConverter()) {
            @Override
            protected TreeBuilder createTreeBuilder(Properties properties, Builder.Feature... features) {
                return new Syntax(features);
            }
        };
    }

    @Override
    protected Object apply(TypeConverter converter, Object left, Object right) {
        if (left == null || right == null) {
            Object other = left == null ? right : left;
            if (other instanceof String text) {
                return text;
            }
            throw new JinjaChatFormat.TemplateFailure("the chat template failed: it adds "
                    + (other == null ? "two undefined or none values" : "an undefined or none value to " + PythonContainers.str(other)));
        }
        return super.apply(converter, left, right);
    }

    private static final class Syntax extends ExtendedSyntaxBuilder {
        Syntax(Builder.Feature... features) {
            super(features);
        }

        @Override
        protected Parser createParser(String expression) {
            return new ExtendedParser(this, expression) {
                @Override
                protected AstBinary createAstBinary(AstNode left, AstNode right, AstBinary.Operator operator) {
                    return super.createAstBinary(left, right, operator == AdditionOperator.OP ? OP : operator);
                }
            };
        }
    }
}
