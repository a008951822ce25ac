package dev.panllama.server;

import java.io.IOException;
import java.util.List;

/**
 * Ollama's {@code POST /api/chat} and {@code POST /api/generate}, for the clients written for Ollama
 * (LangChain4j's Ollama module, Spring AI's, Open WebUI): the request is read as the OpenAI request
 * that asks for the same ({@link OllamaRequests}) and generated as {@link CompletionEndpoint}'s are;
 * the reply is Ollama's JSON, whole or streamed as one JSON object per line (Ollama streams unless
 * told not to). A chat's tool calls come whole, in a line of their own before the last.
 */
final class OllamaEndpoint {

    private final RequestReader reader;
    private final BatchScheduler scheduler;
    private final OllamaReplies replies;
    private final String modelId;

    OllamaEndpoint(RequestReader reader, BatchScheduler scheduler, OllamaReplies replies, String modelId) {
        this.reader = reader;
        this.scheduler = scheduler;
        this.replies = replies;
        this.modelId = modelId;
    }

    void serve(OllamaReplies.Kind kind, RequestFields body, Exchange exchange) throws IOException, InterruptedException {
        long started = System.nanoTime();
        GenerationRequest request;
        if (kind == OllamaReplies.Kind.CHAT) {
            request = reader.chatAsText(OllamaRequests.chat(body, modelId));
        } else {
            RequestFields fields = OllamaRequests.generate(body, modelId);
            request = OllamaRequests.isRaw(body) ? reader.completion(fields) : reader.chatAsText(fields);
        }
        if (!request.stream()) {
            GenerationRun.Whole reply = GenerationRun.whole(scheduler, request, exchange);
            exchange.json(200, replies.done(kind, reply.generation(), reply.calls().isEmpty() ? reply.generation().text() : "",
                    reply.calls(), started));
            return;
        }
        GenerationRun.Outcome outcome = GenerationRun.streamed(scheduler, request, exchange, exchange::startLines,
                piece -> exchange.line(replies.piece(kind, piece.text(), List.of())));
        if (!outcome.calls().isEmpty()) {
            exchange.line(replies.piece(kind, "", outcome.calls()));
        }
        exchange.endLines(replies.done(kind, outcome.generation(), "", List.of(), started));
    }
}
