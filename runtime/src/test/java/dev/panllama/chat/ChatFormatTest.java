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
        String template = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first message must be the user') }}{% endif %}";
        assertThrows(IllegalArgumentException.class, () -> new JinjaChatFormat(template, "", "").render(CONVERSATION, false));
    }
}
