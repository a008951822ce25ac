package dev.panllama.langchain4j;

import dev.langchain4j.model.chat.request.ChatRequest;
import dev.panllama.api.Chat;
import dev.panllama.api.ChatReply;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.chat.ChatFormat;
import dev.panllama.chat.Message;
import dev.panllama.chat.ReasoningSplit;
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
     * A reply, and its text told apart from its reasoning where the chat template writes reasoning blocks
     * (DeepSeek R1's distillations): LangChain4j's text and thinking.
     */
    record Answer(ChatReply reply, ReasoningSplit.Parts parts) {
    }

    /**
     * Generates the reply to {@code request}, handing its text to {@code onText} and its reasoning to
     * {@code onThinking} as they come (text that may be a tool call waits until it is known not to be one),
     * unless {@code cancellation} stops it first. Returns null when it was cancelled before its turn came.
     *
     * @throws IllegalStateException once the session is closing
     */
    Answer reply(ChatRequest request, Consumer<String> onText, Consumer<String> onThinking, Cancellation cancellation) {
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
            ChatFormat format = chat.format();
            ReasoningSplit.Start start = ReasoningSplit.at(format.render(chat.messages(), tools.offered(), true), format.writesReasoning(), true);
            ReasoningSplit split = new ReasoningSplit(start);
            Consumer<ReasoningSplit.Parts> hand = parts -> {
                if (!cancellation.isCancelled()) {
                    if (!parts.reasoning().isEmpty()) {
                        onThinking.accept(parts.reasoning());
                    }
                    if (!parts.content().isEmpty()) {
                        onText.accept(parts.content());
                    }
                }
            };
            ChatReply reply = chat.reply(tools, options, piece -> hand.accept(split.pass(piece)), cancellation::isCancelled);
            hand.accept(split.finish());
            return new Answer(reply, new ReasoningSplit(start).whole(reply.generation().text()));
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
