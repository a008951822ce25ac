package dev.panllama.server;

import java.io.IOException;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * {@code POST /v1/chat/completions} and {@code POST /v1/completions}: reads the request, queues its
 * generation and answers with the whole reply, or streams it as server-sent events while it is
 * generated. A streaming client that goes away cancels its generation as soon as a write to it
 * fails (a token or two later), queued or running; any request is cancelled when Jetty reports its
 * connection failed (an idle timeout); see {@link GenerationRun}. Log probabilities, when asked for,
 * come with the whole reply, or in a stream with the piece of text their tokens released. A chat reply
 * that may call tools holds its streamed text back while it may still be a call, and sends the calls
 * as one delta when the reply is done. With {@code n} above 1, the choices are generated together, each in
 * a slot of its own, sharing the prompt's cells; a stream interleaves their chunks, each with its index,
 * and ends each choice as soon as it is over. A text completion's {@code prompt} may be an array of
 * prompts (strings, or arrays of token ids): each is generated as a request of its own, its choices numbered
 * after the previous prompt's, as OpenAI numbers them.
 */
final class CompletionEndpoint {

    enum Kind { CHAT, TEXT }

    private static final SecureRandom IDS = new SecureRandom();

    private final RequestReader reader;
    private final BatchScheduler scheduler;
    private final Replies replies;
    private final LogprobsJson logprobsJson;

    CompletionEndpoint(RequestReader reader, BatchScheduler scheduler, Replies replies, LogprobsJson logprobsJson) {
        this.reader = reader;
        this.scheduler = scheduler;
        this.replies = replies;
        this.logprobsJson = logprobsJson;
    }

    void serve(Kind kind, RequestFields body, Exchange exchange) throws IOException, InterruptedException {
        // A text completion may hold several prompts: a request for each, their choices numbered in turn.
        List<GenerationRequest> requests = kind == Kind.CHAT ? List.of(reader.chat(body)) : reader.completions(body);
        String id = (kind == Kind.CHAT ? "chatcmpl-" : "cmpl-") + newId();
        long created = Instant.now().getEpochSecond();
        if (requests.getFirst().stream()) {
            stream(kind, requests, id, created, exchange);
        } else {
            whole(kind, requests, id, created, exchange);
        }
    }

    private void whole(Kind kind, List<GenerationRequest> requests, String id, long created, Exchange exchange)
            throws IOException, InterruptedException {
        List<GenerationRun.Whole> choices = GenerationRun.wholeChoices(scheduler, requests, exchange);
        List<GenerationRequest> requestOf = GenerationRun.byChoice(requests);
        List<Map<String, Object>> logprobs = new ArrayList<>();
        for (int i = 0; i < choices.size(); i++) {
            GenerationRequest request = requestOf.get(i);
            logprobs.add(request.wantsLogprobs() ? logprobsJson(kind, request).apply(choices.get(i).scores()) : null);
        }
        exchange.json(200, kind == Kind.CHAT ? replies.chatCompletion(id, created, choices, logprobs)
                : replies.textCompletion(id, created, choices.stream().map(GenerationRun.Whole::generation).toList(), logprobs,
                        requests.getFirst().choices()));
    }

    private void stream(Kind kind, List<GenerationRequest> requests, String id, long created, Exchange exchange)
            throws IOException, InterruptedException {
        List<GenerationRequest> requestOf = GenerationRun.byChoice(requests);
        GenerationRequest first = requests.getFirst();
        // Each choice's scores: a text completion's offsets go on from piece to piece of its own.
        List<Function<List<TokenLogprobs>, Map<String, Object>>> scores = new ArrayList<>();
        for (GenerationRequest request : requestOf) {
            scores.add(logprobsJson(kind, request));
        }
        List<GenerationRun.Outcome> outcomes = GenerationRun.streamedChoices(scheduler, requests, exchange, () -> {
            exchange.startEvents();
            if (kind == Kind.CHAT) {
                for (int choice = 0; choice < requestOf.size(); choice++) {
                    Map<String, Object> role = new LinkedHashMap<>();
                    role.put("role", "assistant");
                    role.put("content", "");
                    exchange.event(replies.chatChunk(id, created, choice, role, null, null));
                }
            }
        }, (choice, piece) -> {
            boolean scored = requestOf.get(choice).wantsLogprobs();
            Map<String, Object> logprobs = scored ? scores.get(choice).apply(piece.logprobs()) : null;
            if (kind == Kind.TEXT) {
                exchange.event(replies.textChunk(id, created, choice, piece.text(), logprobs, null));
                return;
            }
            if (!piece.reasoning().isEmpty()) {
                exchange.event(replies.chatChunk(id, created, choice, Map.of("reasoning_content", piece.reasoning()), logprobs, null));
                if (piece.text().isEmpty()) {
                    return;
                }
                logprobs = scored ? scores.get(choice).apply(List.of()) : null;
            }
            exchange.event(replies.chatChunk(id, created, choice, Map.of("content", piece.text()), logprobs, null));
        }, (choice, outcome) -> {
            // A choice ends as soon as it is over, while the others may go on.
            if (!outcome.calls().isEmpty()) {
                Map<String, Object> logprobs = requestOf.get(choice).wantsLogprobs() ? scores.get(choice).apply(outcome.callScores()) : null;
                exchange.event(replies.chatChunk(id, created, choice, Replies.toolCallsDelta(outcome.calls()), logprobs, null));
            }
            String finish = outcome.calls().isEmpty() ? Replies.finishReason(outcome.generation()) : Replies.TOOL_CALLS;
            exchange.event(kind == Kind.CHAT ? replies.chatChunk(id, created, choice, Map.of(), null, finish)
                    : replies.textChunk(id, created, choice, "", null, finish));
        });
        if (first.includeUsage()) {
            exchange.event(replies.usageChunk(id, kind == Kind.CHAT ? "chat.completion.chunk" : "text_completion", created,
                    outcomes.stream().map(GenerationRun.Outcome::generation).toList(), first.choices()));
        }
        exchange.endEvents();
    }

    /** A reply's {@code logprobs} JSON, of its whole or piece after piece (a text completion's offsets go on from piece to piece). */
    private Function<List<TokenLogprobs>, Map<String, Object>> logprobsJson(Kind kind, GenerationRequest request) {
        return kind == Kind.CHAT ? logprobsJson::chat : logprobsJson.text(request.promptCharacters())::next;
    }

    private static String newId() {
        byte[] bytes = new byte[12];
        IDS.nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }
}
