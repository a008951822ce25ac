package dev.panllama.cli;

import dev.panllama.api.LlamaModel;
import dev.panllama.chat.ChatFormat;
import dev.panllama.chat.Message;
import dev.panllama.json.JsonReader;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How {@code chat} and {@code serve} lay out a conversation: the model's own template (its GGUF's
 * {@code tokenizer.chat_template}, else its architecture's format), a built-in format, or a Jinja
 * template from a file (llama.cpp's {@code --chat-template-file}: for a model whose file has no
 * template, or one to be replaced).
 */
final class ChatFormatArgs {

    @Option(names = "--chat-format", paramLabel = "NAME", description = "llama4, llama3 or chatml instead of the model's own template.")
    String builtIn;

    @Option(names = "--chat-template-file", paramLabel = "FILE",
            description = "A Jinja chat template, as Hugging Face and llama.cpp's models/templates write them, instead of the model's own.")
    Path templateFile;

    @Option(names = "--chat-template-kwargs", paramLabel = "JSON",
            description = "Variables the Jinja chat template is given, as a JSON object, e.g. '{\"enable_thinking\": false}' (llama.cpp's).")
    String templateKwargs;

    @Option(names = "--reasoning-effort", paramLabel = "LEVEL",
            description = "The reasoning effort the chat template is given (its reasoning_effort), such as low, medium or high;"
                    + " default keeps the template's own (llama.cpp's).")
    String reasoningEffort;

    @Option(names = "--reasoning-preserve", negatable = true,
            description = "Whether templates that can keep earlier replies' reasoning in the prompt keep it (default: yes, as llama.cpp).")
    Boolean preserveReasoning;

    /** {@code --chat-template-kwargs} read as a JSON object, then {@code --reasoning-effort} and {@code --reasoning-preserve}; checked before the model loads. */
    Map<String, Object> templateVariables() {
        Map<String, Object> variables = new LinkedHashMap<>(templateKwargs == null ? Map.of() : parsedKwargs());
        if (reasoningEffort != null && !reasoningEffort.equals("default")) {
            variables.put("reasoning_effort", reasoningEffort);
        }
        if (preserveReasoning != null) {
            variables.put("preserve_reasoning", preserveReasoning);
        }
        return variables;
    }

    private Map<String, Object> parsedKwargs() {
        Object parsed;
        try {
            parsed = JsonReader.parse(templateKwargs);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--chat-template-kwargs is not JSON: " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?> object)) {
            throw new IllegalArgumentException("--chat-template-kwargs must be a JSON object, such as '{\"enable_thinking\": false}'");
        }
        Map<String, Object> variables = new LinkedHashMap<>();
        object.forEach((name, value) -> variables.put(String.valueOf(name), value));
        return variables;
    }

    /** The template file's text, read and checked (with {@code --chat-template-kwargs}) before the model loads; null without one. */
    String readTemplate() {
        templateVariables();
        if (templateFile == null) {
            return null;
        }
        if (builtIn != null) {
            throw new IllegalArgumentException("--chat-format and --chat-template-file name two formats; give one");
        }
        try {
            return Files.readString(InputFile.require(templateFile), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the chat template " + templateFile + ": " + e.getMessage(), e);
        }
    }

    /**
     * The format for {@code model}, given {@link #readTemplate()}'s text. A template from a file renders a
     * first exchange here, so that one that cannot says so now, in one message, rather than at the first chat.
     */
    ChatFormat resolve(LlamaModel model, String template) {
        Map<String, Object> variables = templateVariables();
        if (template != null) {
            ChatFormat format = model.chatFormat(template).withTemplateVariables(variables);
            try {
                format.render(List.of(Message.user("Hello")), true);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("the chat template " + templateFile + " cannot lay out a conversation: " + e.getMessage(), e);
            }
            return format;
        }
        return (builtIn != null ? ChatFormat.builtIn(builtIn) : model.defaultChatFormat()).withTemplateVariables(variables);
    }
}
