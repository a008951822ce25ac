package dev.panllama.cli;

import dev.panllama.api.LlamaModel;
import dev.panllama.chat.ChatFormat;
import dev.panllama.chat.Message;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

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

    /** The template file's text, read and checked before the model loads; null without one. */
    String readTemplate() {
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
        if (template != null) {
            ChatFormat format = model.chatFormat(template);
            try {
                format.render(List.of(Message.user("Hello")), true);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("the chat template " + templateFile + " cannot lay out a conversation: " + e.getMessage(), e);
            }
            return format;
        }
        return builtIn != null ? ChatFormat.builtIn(builtIn) : model.defaultChatFormat();
    }
}
