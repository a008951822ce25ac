package dev.panllama.langchain4j;

import dev.langchain4j.model.chat.response.StreamingHandle;

/**
 * LangChain4j's handle on one streamed reply: cancelling it stops that reply, whether it still waits
 * for its turn or is being generated (the generation asks it before each token), and never another
 * request's.
 */
final class Cancellation implements StreamingHandle {

    private volatile boolean cancelled;

    @Override
    public void cancel() {
        cancelled = true;
    }

    @Override
    public boolean isCancelled() {
        return cancelled;
    }
}
