package dev.panllama.langchain4j;

import dev.langchain4j.model.chat.request.ChatRequest;
import dev.panllama.api.Chat;
import dev.panllama.api.ChatReply;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.chat.Message;
import dev.panllama.chat.ToolUse;

import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * The one facade {@link Chat} behind a LangChain4j model. LangChain4j sends the whole conversation
 * with every request; the chat is loaded with it and its KV cache keeps what the last request shared
 * with this one (a system prompt, the turns before), so only the new part is evaluated. A chat is
 * used by one thread at a time: requests from several threads take turns.
 */
final class ChatSession implements AutoCloseable {

    private final Chat chat;
    private final GenerationOptions defaults;
    private final ReentrantLock turn = new ReentrantLock();
    /** Set as closing starts, so that a reply waiting for its turn then fails rather than runs. */
    private volatile boolean closed;

    ChatSession(LlamaModel model, GenerationOptions defaults) {
        this.chat = model.newChat(null);
        this.defaults = defaults;
    }

    /**
     * Generates the reply to {@code request}, handing its text to {@code onText} and its reasoning (where the chat
     * template writes reasoning blocks, as DeepSeek R1's distillations do) to {@code onThinking} as they come (text
     * that may be a tool call waits until it is known not to be one), unless {@code cancellation} stops it first.
     * Returns null when it was cancelled before its turn came.
     *
     * @throws IllegalStateException once the session is closing
     */
    ChatReply reply(ChatRequest request, Consumer<String> onText, Consumer<String> onThinking, Cancellation cancellation) {
        GenerationOptions options = ChatRequests.options(defaults, request.parameters());
        ToolUse tools = ChatRequests.tools(request.parameters());
        List<Message> conversation = ChatRequests.conversation(request);
        turn.lock();
        try {
            if (closed) {
                throw new IllegalStateException("the model is closed");
            }
            if (cancellation.isCancelled()) {
                return null;
            }
            chat.load(conversation);
            return chat.reply(tools, options, thought -> {
                if (!cancellation.isCancelled()) {
                    onThinking.accept(thought);
                }
            }, piece -> {
                if (!cancellation.isCancelled()) {
                    onText.accept(piece);
                }
            }, cancellation::isCancelled);
        } finally {
            turn.unlock();
        }
    }

    @Override
    public void close() {
        closed = true;
        turn.lock();
        try {
            chat.close();
        } finally {
            turn.unlock();
        }
    }
}
