package dev.panllama.chat;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChatFormatTest {

    private static final List<Message> CONVERSATION = List.of(Message.system("Be kind."), Message.user("Hi!"));

    @Test
    void llama4Layout() {
        assertEquals("<|header_start|>system<|header_end|>\n\nBe kind.<|eot|>"
                        + "<|header_start|>user<|header_end|>\n\nHi!<|eot|>"
                        + "<|header_start|>assistant<|header_end|>\n\n",
                new ChatFormat.Llama4().render(CONVERSATION, true));
    }

    @Test
    void llama3AndChatMlLayouts() {
        assertEquals("<|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>", new ChatFormat.Llama3().render(CONVERSATION, false));
        assertEquals("<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
                new ChatFormat.ChatMl().render(CONVERSATION, true));
    }

    @Test
    void jinjaTemplateRendersLikeTheBuiltInFormat() {
        String chatMl = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
                + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        assertEquals(new ChatFormat.ChatMl().render(CONVERSATION, true),
                new JinjaChatFormat(chatMl, "<s>", "</s>").render(CONVERSATION, true));
    }

    /** A message is text: what looks like template syntax in it is not run (Jinjava's default ran it again as a template). */
    @Test
    void templateSyntaxInAMessageIsText() {
        String chatMl = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
                + "{% endfor %}";
        String text = "In Jinja, {{ 7 * 7 }} is 49 and {% if true %}this{% endif %} is shown; {# not this #}";
        assertEquals("<|im_start|>user\n" + text + "<|im_end|>\n", new JinjaChatFormat(chatMl, "<s>", "</s>").render(List.of(Message.user(text)), false));
    }

    @Test
    void notBindsLooserThanAComparisonAsInJinja() {
        assertEquals("{%- if not (message.tool_calls|length == 1) %}", JinjavaDialect.withNotAroundComparisons("{%- if not message.tool_calls|length == 1 %}"));
        assertEquals("{% if not (m.role == 'user') and x %}", JinjavaDialect.withNotAroundComparisons("{% if not m.role == 'user' and x %}"));
        assertEquals("{% if a or not (b != \"c or d\") -%}", JinjavaDialect.withNotAroundComparisons("{% if a or not b != \"c or d\" -%}"));
        // Membership too (Command R+'s template: not param_name in required).
        assertEquals("{%- if not (name in tool.parameters.required) %}", JinjavaDialect.withNotAroundComparisons("{%- if not name in tool.parameters.required %}"));
        assertEquals("{% if not (x not in ['a', 'b']) and y %}", JinjavaDialect.withNotAroundComparisons("{% if not x not in ['a', 'b'] and y %}"));
        for (String unchanged : List.of("{% if not x %}", "{% if x not in y %}", "{% if not (a == b) %}", "{% if not a and b == c %}",
                "{{ not a == b }} not a == b", "{% if not f(a == b) %}", "{% if not tools is defined %}", "{% for x in not_listed %}",
                "{% if x not in y %}")) {
            assertEquals(unchanged, JinjavaDialect.withNotAroundComparisons(unchanged));
        }
        String template = "{% for m in messages %}{% if not m.content|length > 3 %}[short]{% else %}[long]{% endif %}{% endfor %}";
        assertEquals("[long][short]", new JinjaChatFormat(template, "", "").render(CONVERSATION, false));
        String membership = "{% for m in messages %}{% if not m.role in ['user', 'tool'] %}[other]{% else %}[{{ m.role }}]{% endif %}{% endfor %}";
        assertEquals("[user][other]", new JinjaChatFormat(membership, "", "").render(List.of(Message.user("a"), Message.assistant("b")), false));
    }

    @Test
    void whitespaceControlAndBlockTrimmingAreJinjasAsHuggingFaceRendersThem() {
        String template = """
                {%- for m in messages %}
                    {{- '[' + m.role + ']' }}
                    {%- if m.role == 'system' and m.content is none %}none{% endif %}
                    {%- if m.role == 'user' %}
                        {{- m.content }}
                    {% endif %}
                {%- endfor %}
                """;
        // The line break after the user's content stays: lstrip_blocks strips a block tag's line only up to its start.
        assertEquals("[system][user]Hi!\n", new JinjaChatFormat(template, "", "").render(CONVERSATION, false));
        // Only a tag's indent is stripped: text before a tag later on its line keeps its spaces (Python's Jinja gives
        // "[user] x\n[assistant] |"), and {%+ keeps the indent.
        String midLine = "{% for m in messages %}[{{ m.role }}] x\n  {% endfor %}{% if true %}[assistant] {% endif %}|\n  {%+ if true %}y{% endif %}";
        assertEquals("[user] x\n[assistant] |\n  y", new JinjaChatFormat(midLine, "", "").render(List.of(Message.user("Hi!")), false));
        String defined = "{% if not tools is defined %}none{% else %}{{ tools|length }}{% endif %}";
        assertEquals("none", new JinjaChatFormat(defined, "", "").render(CONVERSATION, false));
    }

    @Test
    void jinjaTemplateDropsALeadingBosTheTokenizerAddsAnyway() {
        String template = "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}";
        assertEquals("[system]Be kind.[user]Hi!", new JinjaChatFormat(template, "<|begin_of_text|>", "").render(CONVERSATION, false));
    }

    @Test
    void templatesCannotReadFilesOrReachJava() {
        String include = "{% include '/etc/passwd' %}";
        String rendered;
        try {
            rendered = new JinjaChatFormat(include, "", "").render(CONVERSATION, false);
        } catch (IllegalArgumentException refused) {
            rendered = "";
        }
        assertTrue(!rendered.contains("root:"), "a template read a file: " + rendered);
        String reflect = "{{ messages.getClass().forName('java.lang.Runtime') }}";
        String out;
        try {
            out = new JinjaChatFormat(reflect, "", "").render(CONVERSATION, false);
        } catch (IllegalArgumentException refused) {
            out = "";
        }
        assertTrue(!out.contains("Runtime"), "a template reached a Java class: " + out);
    }

    @Test
    void raiseExceptionRefusesTheConversation() {
        String template = "{% if messages[1]['role'] != 'user' %}{{ raise_exception('the user comes second') }}{% endif %}{{ messages[0].content }}";
        JinjaChatFormat format = new JinjaChatFormat(template, "", "");
        assertEquals("Be kind.", format.render(CONVERSATION, false));
        assertThrows(IllegalArgumentException.class, () -> format.render(List.of(Message.system("Be kind."), Message.assistant("Hi!")), false));
    }
}
