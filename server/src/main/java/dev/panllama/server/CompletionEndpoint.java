package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.chat.CallHoldBack;
import dev.panllama.chat.ToolCall;

import java.io.IOException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.function.Function;

/**
 * {@code POST /v1/chat/completions} and {@code POST /v1/completions}: reads the request, queues its
 * generation and answers with the whole reply, or streams it as server-sent events while it is
 * generated. A streaming client that goes away cancels its generation as soon as a write to it
 * fails (a token or two later), queued or running; any request is cancelled when Jetty reports its
 * connection failed (an idle timeout). A whole reply not ready within {@link #WHOLE_REPLY_PROBE} sends
 * a newline every such interval ahead of its JSON, so that a client that leaves is noticed as soon.
 * Log probabilities, when asked for, come with the whole reply, or in a stream with the piece of text
 * their tokens released. A chat reply that may call tools holds its streamed text back while it may
 * still be a call, and sends the calls as one delta when the reply is done.
 */
final class CompletionEndpoint {

    enum Kind { CHAT, TEXT }

    /** A piece of a stream: text, and the scores of the tokens it came from (when asked for). */
    private record Piece(String text, List<TokenLogprobs> logprobs) {
    }

    /** Put in a stream's queue after its last piece of text. */
    private static final Piece END = new Piece("", List.of());
    private static final SecureRandom IDS = new SecureRandom();
    /** How long a whole reply waits before, and between, the newlines that find out whether its client is still there. */
    static final Duration WHOLE_REPLY_PROBE = Duration.ofMillis(200);

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
        GenerationRequest request = kind == Kind.CHAT ? reader.chat(body) : reader.completion(body);
        String id = (kind == Kind.CHAT ? "chatcmpl-" : "cmpl-") + newId();
        long created = Instant.now().getEpochSecond();
        if (request.stream()) {
            stream(kind, request, id, created, exchange);
        } else {
            whole(kind, request, id, created, exchange);
        }
    }

    private void whole(Kind kind, GenerationRequest request, String id, long created, Exchange exchange)
            throws IOException, InterruptedException {
        // Filled on the decode thread; read once the job is done, which the job's outcome orders after.
        List<TokenLogprobs> scores = new ArrayList<>();
        GenerationJob job = scheduler.submit(request.prompt(), request.options(), request.logprobs(),
                (text, logprobs) -> scores.addAll(logprobs));
        exchange.request().addFailureListener(failure -> job.cancel());
        Generation generation;
        try {
            while (!job.isDone(WHOLE_REPLY_PROBE)) {
                exchange.awaitingJson();
            }
            generation = job.await();
        } catch (IOException | InterruptedException | CancellationException e) {
            job.cancel();
            throw e;
        }
        Map<String, Object> logprobs = request.wantsLogprobs() ? logprobsJson(kind, request).apply(scores) : null;
        exchange.json(200, kind == Kind.CHAT ? replies.chatCompletion(id, created, generation, request.tools().callsIn(generation.text()), logprobs)
                : replies.textCompletion(id, created, generation, logprobs));
    }

    private void stream(Kind kind, GenerationRequest request, String id, long created, Exchange exchange)
            throws IOException, InterruptedException {
        BlockingQueue<Piece> pieces = new LinkedBlockingQueue<>();
        GenerationJob job = scheduler.submit(request.prompt(), request.options(), request.logprobs(),
                (text, logprobs) -> pieces.add(new Piece(text, logprobs)));
        job.whenDone(() -> pieces.add(END));
        exchange.request().addFailureListener(failure -> job.cancel());
        exchange.startEvents();
        try {
            if (kind == Kind.CHAT) {
                Map<String, Object> role = new LinkedHashMap<>();
                role.put("role", "assistant");
                role.put("content", "");
                exchange.event(replies.chatChunk(id, created, role, null, null));
            }
            Function<List<TokenLogprobs>, Map<String, Object>> scores = logprobsJson(kind, request);
            // Text that may still be a tool call waits, with its scores, until it is known not to be one.
            CallHoldBack held = new CallHoldBack(request.tools());
            List<TokenLogprobs> heldScores = new ArrayList<>();
            for (Piece piece = pieces.take(); piece != END; piece = pieces.take()) {
                heldScores.addAll(piece.logprobs());
                String text = held.pass(piece.text());
                if (!text.isEmpty() || held.rest().isEmpty()) {
                    sendPiece(kind, request, id, created, new Piece(text, List.copyOf(heldScores)), scores, exchange);
                    heldScores.clear();
                }
            }
            Generation generation = job.await();
            List<ToolCall> calls = request.tools().callsIn(generation.text());
            if (!calls.isEmpty()) {
                Map<String, Object> logprobs = request.wantsLogprobs() ? scores.apply(heldScores) : null;
                exchange.event(replies.chatChunk(id, created, Replies.toolCallsDelta(calls), logprobs, null));
            } else if (!held.rest().isEmpty()) {
                sendPiece(kind, request, id, created, new Piece(held.rest(), heldScores), scores, exchange);
            }
            String finish = calls.isEmpty() ? Replies.finishReason(generation) : Replies.TOOL_CALLS;
            exchange.event(kind == Kind.CHAT ? replies.chatChunk(id, created, Map.of(), null, finish)
                    : replies.textChunk(id, created, "", null, finish));
            if (request.includeUsage()) {
                exchange.event(replies.usageChunk(id, kind == Kind.CHAT ? "chat.completion.chunk" : "text_completion", created, generation));
            }
            exchange.endEvents();
        } catch (IOException | InterruptedException | RuntimeException e) {
            job.cancel();
            throw e;
        }
    }

    private void sendPiece(Kind kind, GenerationRequest request, String id, long created, Piece piece,
                           Function<List<TokenLogprobs>, Map<String, Object>> scores, Exchange exchange) throws IOException {
        Map<String, Object> logprobs = request.wantsLogprobs() ? scores.apply(piece.logprobs()) : null;
        exchange.event(kind == Kind.CHAT ? replies.chatChunk(id, created, Map.of("content", piece.text()), logprobs, null)
                : replies.textChunk(id, created, piece.text(), logprobs, null));
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
