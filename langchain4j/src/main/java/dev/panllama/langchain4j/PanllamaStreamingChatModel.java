package dev.panllama.langchain4j;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;

/**
 * A LangChain4j {@link StreamingChatModel} over a panllama model in this process: each request is
 * generated on a thread of its own, its text handed to the handler piece by piece as it is decoded.
 * The handle in each {@link PartialResponseContext} cancels that reply; after a cancel the handler
 * hears nothing more. Parameters and turns as in {@link PanllamaChatModel}.
 */
public final class PanllamaStreamingChatModel implements StreamingChatModel, AutoCloseable {

    private final ChatSession session;
    private final String modelName;

    public PanllamaStreamingChatModel(LlamaModel model, GenerationOptions defaults) {
        this.session = new ChatSession(model, defaults);
        this.modelName = ChatRequests.modelName(model);
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        Cancellation cancellation = new Cancellation();
        PartialResponseContext context = new PartialResponseContext(cancellation);
        // A platform thread: the generation is native calls, which would pin a virtual thread anyway.
        Thread.ofPlatform().name("panllama-langchain4j").daemon().start(() -> {
            try {
                Generation generation = session.reply(request,
                        piece -> handler.onPartialResponse(new PartialResponse(piece), context), cancellation);
                if (!cancellation.isCancelled()) {
                    handler.onCompleteResponse(ChatRequests.response(generation, modelName));
                }
            } catch (RuntimeException e) {
                if (!cancellation.isCancelled()) {
                    handler.onError(e);
                }
            }
        });
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    @Override
    public void close() {
        session.close();
    }
}
