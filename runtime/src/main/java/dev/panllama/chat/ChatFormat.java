package dev.panllama.chat;

import java.util.List;
import java.util.Map;

/**
 * How a model expects a conversation laid out as text. The rendering leaves out the beginning-of-text
 * token: the tokenizer adds it where the vocabulary asks for one.
 */
public sealed interface ChatFormat permits ChatFormat.Llama4, ChatFormat.Llama3, ChatFormat.ChatMl, JinjaChatFormat {

    /**
     * The conversation as the model's prompt, offering {@code tools}; with {@code openAssistantTurn} it
     * ends where the assistant's reply begins. Tool calls in the conversation and tools offered are
     * written as {@link ToolCallFormat} describes, unless a template has a way of its own.
     */
    String render(List<Message> messages, List<Tool> tools, boolean openAssistantTurn);

    /** The conversation as the model's prompt, offering no tools. */
    default String render(List<Message> messages, boolean openAssistantTurn) {
        return render(messages, List.of(), openAssistantTurn);
    }

    /**
     * What a format writes to open the assistant's reply (llama.cpp's generation prompt, such as DeepSeek R1's
     * {@code <｜Assistant｜><think>\n}): {@code opened}, a conversation rendered with the reply's turn open, past the
     * longest start it shares with {@code closed}, the same rendered without.
     */
    static String replyOpening(String opened, String closed) {
        int common = 0;
        while (common < Math.min(opened.length(), closed.length()) && opened.charAt(common) == closed.charAt(common)) {
            common++;
        }
        return opened.substring(common);
    }

    String name();

    /**
     * This format, its template also given {@code variables} (llama.cpp's {@code --chat-template-kwargs}).
     * A built-in format has no template, and is this format still, as in llama.cpp.
     */
    default ChatFormat withTemplateVariables(Map<String, ?> variables) {
        return this;
    }

    /** Whether a reply laid out by this format may be, or begin with, a reasoning block ({@link ReasoningSplit}). */
    default boolean writesReasoning() {
        return false;
    }

    /** Llama 4: {@code <|header_start|>role<|header_end|>\n\ncontent<|eot|>}; tool results as role {@code ipython}, as Meta's prompt format names it. */
    record Llama4() implements ChatFormat {
        @Override
        public String render(List<Message> messages, List<Tool> tools, boolean openAssistantTurn) {
            StringBuilder out = new StringBuilder();
            for (Message message : ToolCallFormat.inline(messages, tools, "ipython")) {
                out.append("<|header_start|>").append(message.role()).append("<|header_end|>\n\n")
                        .append(message.content()).append("<|eot|>");
            }
            if (openAssistantTurn) {
                out.append("<|header_start|>assistant<|header_end|>\n\n");
            }
            return out.toString();
        }

        @Override
        public String name() {
            return "llama4";
        }
    }

    /** Llama 3: {@code <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>}; tool results as role {@code ipython}. */
    record Llama3() implements ChatFormat {
        @Override
        public String render(List<Message> messages, List<Tool> tools, boolean openAssistantTurn) {
            StringBuilder out = new StringBuilder();
            for (Message message : ToolCallFormat.inline(messages, tools, "ipython")) {
                out.append("<|start_header_id|>").append(message.role()).append("<|end_header_id|>\n\n")
                        .append(message.content()).append("<|eot_id|>");
            }
            if (openAssistantTurn) {
                out.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }
            return out.toString();
        }

        @Override
        public String name() {
            return "llama3";
        }
    }

    /** ChatML: {@code <|im_start|>role\ncontent<|im_end|>\n}. */
    record ChatMl() implements ChatFormat {
        @Override
        public String render(List<Message> messages, List<Tool> tools, boolean openAssistantTurn) {
            StringBuilder out = new StringBuilder();
            for (Message message : ToolCallFormat.inline(messages, tools, "tool")) {
                out.append("<|im_start|>").append(message.role()).append('\n').append(message.content()).append("<|im_end|>\n");
            }
            if (openAssistantTurn) {
                out.append("<|im_start|>assistant\n");
            }
            return out.toString();
        }

        @Override
        public String name() {
            return "chatml";
        }
    }

    /** The built-in format of that name: {@code llama4}, {@code llama3} or {@code chatml}. */
    static ChatFormat builtIn(String name) {
        return switch (name) {
            case "llama4" -> new Llama4();
            case "llama3" -> new Llama3();
            case "chatml" -> new ChatMl();
            default -> throw new IllegalArgumentException("unknown chat format '" + name + "'; built in: llama4, llama3, chatml");
        };
    }
}
