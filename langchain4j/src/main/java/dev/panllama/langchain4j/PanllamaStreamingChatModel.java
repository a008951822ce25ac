package dev.panllama.langchain4j;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.Capability;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.CompleteToolCall;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.PartialThinking;
import dev.langchain4j.model.chat.response.PartialThinkingContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.panllama.api.ChatReply;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;

/**
 * A LangChain4j {@link StreamingChatModel} over a panllama model in this process: requests are
 * generated one at a time, in the order they were made, on a thread of the model's own, their text
 * handed to the handler piece by piece as it is decoded. The handle in each
 * {@link PartialResponseContext} cancels that reply, waiting or running; after a cancel the handler
 * hears nothing more. Parameters, tools and turns as in {@link PanllamaChatModel}; a tool call is
 * not streamed as text but comes whole, to {@link StreamingChatResponseHandler#onCompleteToolCall}
 * and in the response. A request made after
 * {@link #close()} gets {@link StreamingChatResponseHandler#onError}.
 */
public final class PanllamaStreamingChatModel implements StreamingChatModel, AutoCloseable {

    private final ChatSession session;
    private final String modelName;
    /**
     * Runs the replies in call order. A thread per request taking the session's lock would not: the
     * second of two requests made at once could start first. A platform thread: the generation is
     * native calls, which would pin a virtual thread anyway.
     */
    private final ExecutorService replies = Executors.newSingleThreadExecutor(
            Thread.ofPlatform().name("panllama-langchain4j").daemon().factory());

    public PanllamaStreamingChatModel(LlamaModel model, GenerationOptions defaults) {
        this.session = new ChatSession(model, defaults);
        this.modelName = ChatRequests.modelName(model);
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        Cancellation cancellation = new Cancellation();
        PartialResponseContext context = new PartialResponseContext(cancellation);
        try {
            replies.execute(() -> reply(request, handler, cancellation, context));
        } catch (RejectedExecutionException closed) {
            handler.onError(new IllegalStateException("the model is closed"));
        }
    }

    private void reply(ChatRequest request, StreamingChatResponseHandler handler, Cancellation cancellation,
                       PartialResponseContext context) {
        try {
            PartialThinkingContext thinkingContext = new PartialThinkingContext(cancellation);
            ChatReply reply = session.reply(request, piece -> handler.onPartialResponse(new PartialResponse(piece), context),
                    thought -> handler.onPartialThinking(new PartialThinking(thought), thinkingContext), cancellation);
            if (!cancellation.isCancelled()) {
                ChatResponse response = ChatRequests.response(reply, modelName);
                List<ToolExecutionRequest> calls = response.aiMessage().hasToolExecutionRequests()
                        ? response.aiMessage().toolExecutionRequests() : List.of();
                for (int i = 0; i < calls.size(); i++) {
                    handler.onCompleteToolCall(new CompleteToolCall(i, calls.get(i)));
                }
                handler.onCompleteResponse(response);
            }
        } catch (RuntimeException e) {
            if (!cancellation.isCancelled()) {
                handler.onError(e);
            }
        }
    }

    @Override
    public Set<Capability> supportedCapabilities() {
        return Set.of(Capability.RESPONSE_FORMAT_JSON_SCHEMA);
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    /** Closes the model's chat once the running reply ends; the replies still waiting then fail. */
    @Override
    public void close() {
        replies.shutdown();
        session.close();
    }
}
