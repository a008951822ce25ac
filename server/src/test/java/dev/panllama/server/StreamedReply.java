package dev.panllama.server;

import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** A LangChain4j streamed reply as a test hears it: the partial texts in order, and the response or the error. */
final class StreamedReply implements StreamingChatResponseHandler {

    private final StringBuilder partials = new StringBuilder();
    private final CompletableFuture<ChatResponse> done = new CompletableFuture<>();
    private final boolean textExpected;

    private StreamedReply(boolean textExpected) {
        this.textExpected = textExpected;
    }

    /** A reply of text. */
    static StreamedReply ofText() {
        return new StreamedReply(true);
    }

    /** A reply that must stream no text (a tool call): any partial text fails it. */
    static StreamedReply withoutText() {
        return new StreamedReply(false);
    }

    @Override
    public void onPartialResponse(String partial) {
        if (!textExpected) {
            done.completeExceptionally(new AssertionError("text streamed from a call: " + partial));
        }
        partials.append(partial);
    }

    @Override
    public void onCompleteResponse(ChatResponse response) {
        done.complete(response);
    }

    @Override
    public void onError(Throwable error) {
        done.completeExceptionally(error);
    }

    /** The response, once complete (two minutes at most). */
    ChatResponse response() throws Exception {
        return done.get(120, TimeUnit.SECONDS);
    }

    String partials() {
        return partials.toString();
    }
}
