package dev.panllama.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.InterpretException;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;

import java.io.IOException;
import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A chat template in Jinja, as Hugging Face tokenizers and GGUF files ({@code tokenizer.chat_template})
 * carry them, rendered with Jinjava. Sandboxed: a template can read no file (every include or import
 * fails) and reach no Java class (Jinjava refuses {@code getClass} and reflection), and its output and
 * recursion are bounded.
 */
public final class JinjaChatFormat implements ChatFormat {

    private static final long MAX_OUTPUT_CHARS = 8L << 20;

    private final String template;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinjava;

    public JinjaChatFormat(String template, String bosToken, String eosToken) {
        this.template = template;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withMaxOutputSize(MAX_OUTPUT_CHARS)
                .withMaxRenderDepth(20)
                .withFailOnUnknownTokens(false)
                .build();
        this.jinjava = new Jinjava(config);
        jinjava.setResourceLocator((name, encoding, interpreter) -> {
            throw new IOException("chat templates may not read files (" + name + ")");
        });
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                JinjaChatFormat.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now",
                JinjaChatFormat.class, "strftimeNow", String.class));
    }

    @Override
    public String render(List<Message> messages, boolean openAssistantTurn) {
        List<Map<String, Object>> turns = new ArrayList<>();
        for (Message message : messages) {
            Map<String, Object> turn = new LinkedHashMap<>();
            turn.put("role", message.role());
            turn.put("content", message.content());
            turns.add(turn);
        }
        Map<String, Object> context = new HashMap<>();
        context.put("messages", turns);
        context.put("add_generation_prompt", openAssistantTurn);
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        String rendered;
        try {
            rendered = jinjava.render(template, context);
        } catch (InterpretException e) {
            throw new IllegalArgumentException("the model's chat template failed: " + e.getMessage(), e);
        }
        // The tokenizer adds the beginning-of-text token itself; a template that writes it would double it.
        return !bosToken.isEmpty() && rendered.startsWith(bosToken) ? rendered.substring(bosToken.length()) : rendered;
    }

    @Override
    public String name() {
        return "jinja";
    }

    public String template() {
        return template;
    }

    /** {@code raise_exception(message)} in a template: the template refuses the conversation. */
    public static String raiseException(String message) {
        throw new IllegalArgumentException("the chat template refused the conversation: " + message);
    }

    /** {@code strftime_now(format)}: today's date, for templates that print it (Llama 3.1+). */
    public static String strftimeNow(String format) {
        String pattern = format.replace("%d", "dd").replace("%b", "MMM").replace("%B", "MMMM")
                .replace("%Y", "yyyy").replace("%m", "MM");
        return LocalDate.now().format(DateTimeFormatter.ofPattern(pattern, Locale.ROOT));
    }
}
