package dev.panllama.chat;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What chat templates call as Python's Jinja offers it and Jinjava alone does not: string and dict
 * methods, the {@code items} filter, {@code trim} of an undefined value, and the syntax {@link JinjavaDialect}
 * rewrites. The expected text is what Python's Jinja 3.1 renders for the same template and messages (with
 * Hugging Face's settings: trim_blocks, lstrip_blocks, the generation tag).
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

    private static final List<Message> EXCHANGE = List.of(Message.user("a"), Message.assistant("b"), Message.user("c"));

    private static String render(String template) {
        return new JinjaChatFormat(template, "", "").render(EXCHANGE, false);
    }

    /** A loop with a filter goes round the items that pass, and its loop variables count those (Mistral Nemo's template). */
    @Test
    void aLoopWithAConditionGoesRoundOnlyTheItemsThatPassIt() {
        assertEquals("1/2:a,2/2:c|content=a", render("{% for m in messages if m.role == 'user' %}{{ loop.index }}/{{ loop.length }}:"
                + "{{ m.content }}{{ ',' if not loop.last }}{% endfor %}|{% for k, v in messages[0].items() if k != 'role' -%}\n"
                + "{{ k }}={{ v }}{% endfor %}"));
    }

    /** A loop's else branch is written once, when the loop went round no times (Jinjava wrote it after every item). */
    @Test
    void aLoopsElseBranchIsForAnEmptyLoop() {
        assertEquals("123|none|a|(1)(2)(3)", render("{% set xs = [1, 2, 3] %}{% for x in xs %}{{ x }}{% else %}empty{% endfor %}"
                + "|{% for x in [] %}{{ x }}{%- else -%}  none  {%- endfor %}"
                + "|{% for x in xs if x > 5 %}{{ x }}{% else %}{% if true %}a{% else %}b{% endif %}{% endfor %}"
                + "|{% for x in xs %}{% for y in [] %}{% else %}({{ x }}){% endfor %}{% endfor %}"));
    }

    /** Slices of lists and texts with any bounds and steps (Qwen 3's {@code messages[::-1]}, Kimi K2's {@code [:ns.last+1]}). */
    @Test
    void slicesTakeBoundsAndStepsAsPythonDoes() {
        assertEquals("cba|1|2|b|a|bd|jhfdb|jgd|hij||ab|ab", render("{{ (messages[::-1]|map(attribute='content')|join) }}"
                + "|{% set ns = namespace(n=0) %}{{ messages[:ns.n+1]|length }}|{{ messages[1:]|length }}|{{ messages[-2:][0].content }}"
                + "|{{ messages[0].content[::-1] }}|{{ 'abcdefghij'[1:5:2] }}|{{ 'abcdefghij'[::-2] }}|{{ 'abcdefghij'[10:0:-3] }}"
                + "|{{ 'abcdefghij'[-3:] }}|{{ 'abcdefghij'[20:] }}|{{ 'abcdefghij'[:-8] }}|{{ 'abcdefghij'[-20:2] }}"));
    }

    /** A keyword argument's value is a whole expression ({@code namespace(last=messages|length - 1)}, Qwen 3's). */
    @Test
    void aKeywordArgumentTakesAWholeExpression() {
        assertEquals("2|[\n  1,\n  2\n]", render("{% set ns = namespace(last=messages|length - 1, found=false) %}{{ ns.last }}"
                + "|{{ [1, 2]|tojson(indent=1 + 1) }}"));
    }

    /** {@code n+1} is a sum, not {@code n} and the number {@code +1} (Kimi K2 Thinking's template); a sign after a keyword stays one. */
    @Test
    void aSumWithoutSpacesIsASum() {
        assertEquals("3|1|2|2|-1|1", render("{% set n = 2 %}{{ n+1 }}|{{ n-1 }}|{{ (3)-1 }}|{{ [1, 2][0]+1 }}|{{ 5 if n==3 else-1 }}|{{ 2-1 }}"));
    }

    /** A comment ends the text before it: a {@code {%-} after it trims only up to the comment (ByteDance Seed-OSS's). */
    @Test
    void aCommentEndsTheTextBeforeIt() {
        assertEquals("x\n\n    Y|ab|cd", render("x\n\n    {# note #}\n    {%- if true %}\n    Y{% endif %}|a {#- trimmed -#} b|c{# c #}\nd"));
    }

    /** A raw block's text is written as it is, template syntax, quotes and backslashes included, trimmed as its tags ask. */
    @Test
    void aRawBlockIsWrittenAsItIs() {
        assertEquals("x-{{ x }} {# c #} it's \\ {% if %}b|{{ y }}|\nlinez", render("x-{% raw %}{{ x }} {# c #} it's \\ {% if %}{% endraw %}b"
                + "|  {%- raw -%} {{ y }} {%- endraw -%}  |{% raw %}\nline{% endraw %}\nz"));
    }

    @Test
    void theGenerationTagWritesItsBody() {
        assertEquals("a[b]c", render("{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}[{{ m.content }}]"
                + "{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}"));
    }

    @Test
    void indentTakesJinja3sArguments() {
        assertEquals("a\n  b\n\n  c|  a\n  b|a\n> \n> b", render("{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(width=2, first=true) }}"
                + "|{{ 'a\n\nb'|indent('> ', blank=true) }}"));
    }

    @Test
    void formatAndGetWithOneArgumentAsInPython() {
        assertEquals("<tx>2{}|ba|user|none", render("{{ '<t{}>{}{{}}'.format('x', 2) }}|{{ '{1}{0}'.format('a', 'b') }}"
                + "|{{ messages[0].get('role') }}|{{ 'none' if messages[0].get('missing') is none else 'set' }}"));
    }

    /** What the template is given prints as Python prints it (Apriel's template writes {@code {{ tools }}}). */
    @Test
    void givenDictsAndListsPrintAsPythonsDo() {
        assertEquals("{'role': 'user', 'content': 'a'}|[{'role': 'user', 'content': \"it's\"}]",
                new JinjaChatFormat("{{ messages[0] }}|{{ messages[1:] }}", "", "").render(List.of(Message.user("a"), Message.user("it's")), false));
    }

    /** What a template prints of its own values is Python's {@code str} of them; whitespace control still trims around it. */
    @Test
    void printedValuesReadAsPythonWritesThem() {
        assertEquals("False|True|['a', True, None, 2]|{'a': False}| x |y", render("{% set ns = namespace(found=false) %}{{ ns.found }}"
                + "|{{ 1 == 1 }}|{{ [messages[0].content, true, none, 2] }}|{{ {'a': false} }}|  {{- ' x ' -}}  |{{ 'y' }}"));
    }

    /** A macro may call itself (Kimi K3's writes a schema so); nested dict literals close with {@code }}} inside an expression. */
    @Test
    void aMacroMayCallItself() {
        assertEquals("a(b(c(1)))d(2)|{'x': {'y': 1}}|2", render("{% macro depth(v) %}{% if v is mapping %}{% for k, x in v|dictsort %}"
                + "{{ k }}({{ depth(x) }}){% endfor %}{% else %}{{ v }}{% endif %}{% endmacro %}{{ depth({'a': {'b': {'c': 1}}, 'd': 2}) }}"
                + "|{{ {'x': {'y': 1}} }}|{% set z = {'p': {'q': 2}} %}{{ z.p.q }}"));
    }

    /**
     * {@code +} of a missing or none value and a text is the text, as llama.cpp's Jinja has it (Jinjava wrote
     * "null" into the prompt); of such a value and anything else it is an error, as in llama.cpp's and Python's.
     */
    @Test
    void addingAMissingValueToATextAddsNothingAndToAnythingElseFails() {
        assertEquals("[a][a][b][a]|[1, 2]|a1|ab", render("[{{ messages[0].reasoning + messages[0].content }}][{{ 'a' + missing }}]"
                + "[{% set t = none + 'b' %}{{ t }}][{{ missing ~ 'a' }}]|{{ [1] + [2] }}|{{ 'a' + 1 }}|{{ 'a' + 'b' }}"));
        for (String adds : List.of("{{ missing + 1 }}", "{{ [1] + none }}", "{{ none + missing }}")) {
            IllegalArgumentException failure = assertThrows(IllegalArgumentException.class, () -> render(adds));
            assertTrue(failure.getMessage().startsWith("the chat template failed: it adds "), failure.getMessage());
        }
    }

    /** A template's own {@code raise_exception} message is what the caller hears, not Jinjava's "Error invoking function". */
    @Test
    void aTemplatesRefusalSaysWhy() {
        IllegalArgumentException refusal = assertThrows(IllegalArgumentException.class,
                () -> render("{% if messages[1].role == 'assistant' %}{{ raise_exception('Roles must alternate user/assistant') }}{% endif %}"));
        assertEquals("the chat template refused the conversation: Roles must alternate user/assistant", refusal.getMessage());
    }

    /** A template that refuses a system message, or leaves it out, gets its text at the start of the next turn, as llama.cpp gives it. */
    @Test
    void aTemplateWithoutASystemRoleGetsTheSystemTextInTheFirstTurn() {
        String refuses = "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
                + "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}";
        String ignores = "{% for m in messages if m.role != 'system' %}<{{ m.role }}>{{ m.content }}{% endfor %}";
        for (String template : List.of(refuses, ignores)) {
            JinjaChatFormat format = new JinjaChatFormat(template, "", "");
            assertEquals("<user>Be brief.\nHi<assistant>Hello", format.render(List.of(Message.system("Be brief."), Message.user("Hi"),
                    Message.assistant("Hello")), false));
            assertEquals("", format.render(List.of(Message.system("Be brief.")), false), "a system message alone is left out");
        }
        assertEquals("<system>Be brief.<user>Hi", new JinjaChatFormat("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}", "", "")
                .render(List.of(Message.system("Be brief."), Message.user("Hi")), false));
    }

    /**
     * As llama.cpp, a template that can think is asked to ({@code enable_thinking} true) and another is told not to:
     * one that opens the reply otherwise with thinking on, or writes {@code <think>} blocks, can think; one that
     * reads the variable only before the conversation (Apertus's) cannot.
     */
    @Test
    void aTemplateThatCanThinkIsAskedToByDefault() {
        String turns = "{% for m in messages %}{{ m.content }}|{% endfor %}";
        String opensThinking = turns + "{% if add_generation_prompt %}A:{{ '' if enable_thinking else ' [THINK][/THINK]' }}{% endif %}";
        assertEquals("Hi|A:", new JinjaChatFormat(opensThinking, "", "").render(List.of(Message.user("Hi")), true));
        assertEquals("Hi|A: [THINK][/THINK]", new JinjaChatFormat(opensThinking, "", "")
                .withTemplateVariables(java.util.Map.of("enable_thinking", false)).render(List.of(Message.user("Hi")), true));
        String toldBefore = "{{ 'Deliberation: ' ~ ('on' if enable_thinking else 'off') ~ '|' }}" + turns + "A:";
        assertEquals("Deliberation: off|Hi|A:", new JinjaChatFormat(toldBefore, "", "").render(List.of(Message.user("Hi")), true));
        String blocks = turns + "{% if add_generation_prompt %}A: <think>{{ '' if enable_thinking else '</think>' }}{% endif %}";
        assertEquals("Hi|A: <think>", new JinjaChatFormat(blocks, "", "").render(List.of(Message.user("Hi")), true));
    }

    /** Variables given to a template (llama.cpp's chat template kwargs) are what it reads; later ones over earlier; built-in formats have none to take. */
    @Test
    void templateVariablesReachTheTemplate() {
        String template = "{{ 'thinking' if enable_thinking else 'quiet' }}|{{ tags|join(',') }}|{{ add_generation_prompt }}|{{ messages|length }}";
        JinjaChatFormat format = new JinjaChatFormat(template, "", "");
        assertEquals("quiet||True|1", format.render(List.of(Message.user("a")), true));
        JinjaChatFormat thinking = format.withTemplateVariables(java.util.Map.of("enable_thinking", true, "tags", List.of("x", "y")));
        assertEquals("thinking|x,y|True|1", thinking.render(List.of(Message.user("a")), true));
        assertEquals("quiet|x,y|False|1", thinking.withTemplateVariables(java.util.Map.of("enable_thinking", false, "add_generation_prompt", true))
                .render(List.of(Message.user("a")), false), "a variable may not open the assistant's turn");
        assertEquals("quiet||True|1", format.render(List.of(Message.user("a")), true), "the format given variables is another");
        ChatFormat builtIn = new ChatFormat.Llama3();
        assertTrue(builtIn == builtIn.withTemplateVariables(java.util.Map.of("enable_thinking", true)));
    }
}
