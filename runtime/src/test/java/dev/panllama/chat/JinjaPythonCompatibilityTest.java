package dev.panllama.chat;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What chat templates call as Python's Jinja offers it and Jinjava alone does not: string and dict
 * methods, the {@code items} filter, {@code trim} of an undefined value. The expected text is what
 * Python's Jinja 3.1 renders for the same template and message.
 */
class JinjaPythonCompatibilityTest {

    @Test
    void stringAndDictMethodsFiltersAndUndefinedValuesRenderAsInPython() {
        String template = "{% set m = messages[0] %}"
                + "{{ '  <think>x</think>\\n\\nHi  '.split('</think>')[-1].lstrip('\\n').strip() }}"
                + "|{% if 'ab'.startswith(('x', 'a')) and not 'ab'.endswith('a') %}yes{% endif %}"
                + "|{{ 'a b  c'.split()|join('+') }}|{{ 'a,b,,c'.split(',', 2)|join('+') }}"
                + "|{{ m.get('reasoning', 'none') }}|{{ m.get('role', 'x') }}"
                + "|{% for k, v in m|items %}{{ k }}={{ v }};{% endfor %}|{% for k, v in m.items() %}{{ k }}{% endfor %}"
                + "|[{{ m.missing|trim }}]|{{ '--x--'|trim('-') }}|{{ 'Hello'.upper() }}{{ 'Hello'.lower() }}|{{ 'hello'.replace('l', 'L') }}";
        assertEquals("Hi|yes|a+b+c|a+b+,c|none|user|role=user;content=hi;|rolecontent|[]|x|HELLOhello|heLLo",
                new JinjaChatFormat(template, "", "").render(List.of(Message.user("hi")), false));
    }

    @Test
    void aFilterBlockFiltersItsText() {
        String template = "{% filter upper %}ab{{ messages[0].role }}{% endfilter %}|{%- filter trim -%}\n  x {{ 1 }}  \n{%- endfilter -%}"
                + "|{% filter replace(\"a\", \"b\") | upper %}aa{% endfilter %}";
        assertEquals("ABUSER|x 1|BB", new JinjaChatFormat(template, "", "").render(List.of(Message.user("a")), false));
    }

    /** {@code loop.previtem} and {@code loop.nextitem}, in a loop over the messages (as Hermes's templates use them). */
    @Test
    void aLoopKnowsTheItemsBeforeAndAfterTheCurrentOne() {
        String template = "{% for m in messages %}{% if loop.previtem and loop.previtem.role != m.role %}|{% endif %}{{ m.role }}"
                + "{% if loop.nextitem %}>{{ loop.nextitem.role }}{% endif %} {% endfor %}";
        assertEquals("user>user user>assistant |assistant ", new JinjaChatFormat(template, "", "")
                .render(List.of(Message.user("a"), Message.user("b"), Message.assistant("c")), false));
    }
}
