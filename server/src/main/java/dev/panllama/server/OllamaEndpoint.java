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
        boolean thinks = OllamaRequests.thinks(body);
        if (thinks && !reader.writesReasoning()) {
            // Ollama's own words for a model that cannot.
            throw ApiException.invalid("\"" + modelId + "\" does not support thinking", "think");
        }
        GenerationRequest request;
        RequestFields fields = kind == OllamaReplies.Kind.CHAT ? OllamaRequests.chat(body, modelId) : OllamaRequests.generate(body, modelId);
        if (kind == OllamaReplies.Kind.GENERATE && OllamaRequests.isRaw(body)) {
            request = reader.completion(fields);
        } else {
            request = thinks ? reader.chat(fields) : reader.chatAsText(fields);
        }
        if (!request.stream()) {
            GenerationRun.Whole reply = GenerationRun.whole(scheduler, request, exchange);
            exchange.json(200, replies.done(kind, reply.generation(), reply.reasoning(), reply.calls().isEmpty() ? reply.text() : "",
                    reply.calls(), started));
            return;
        }
        GenerationRun.Outcome outcome = GenerationRun.streamed(scheduler, request, exchange, exchange::startLines,
                piece -> exchange.line(replies.piece(kind, piece.reasoning(), piece.text(), List.of())));
        if (!outcome.calls().isEmpty()) {
            exchange.line(replies.piece(kind, "", "", outcome.calls()));
        }
        exchange.endLines(replies.done(kind, outcome.generation(), "", "", List.of(), started));
    }
}
