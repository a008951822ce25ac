package dev.panllama.server;

import dev.panllama.api.Generation;

import java.io.IOException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * {@code POST /v1/chat/completions} and {@code POST /v1/completions}: reads the request, queues its
 * generation and answers with the whole reply, or streams it as server-sent events while it is
 * generated. A streaming client that goes away cancels its generation as soon as a write to it
 * fails (a token or two later), queued or running; any request is cancelled when Jetty reports its
 * connection failed (an idle timeout). A whole reply not ready within {@link #WHOLE_REPLY_PROBE} sends
 * a newline every such interval ahead of its JSON, so that a client that leaves is noticed as soon.
 */
final class CompletionEndpoint {

    enum Kind { CHAT, TEXT }

    /** Put in a stream's queue after its last piece of text. */
    private static final Object END = new Object();
    private static final SecureRandom IDS = new SecureRandom();
    /** How long a whole reply waits before, and between, the newlines that find out whether its client is still there. */
    static final Duration WHOLE_REPLY_PROBE = Duration.ofMillis(200);

    private final RequestReader reader;
    private final BatchScheduler scheduler;
    private final Replies replies;

    CompletionEndpoint(RequestReader reader, BatchScheduler scheduler, Replies replies) {
        this.reader = reader;
        this.scheduler = scheduler;
        this.replies = replies;
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
        GenerationJob job = scheduler.submit(request.prompt(), request.options(), piece -> { });
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
        exchange.json(200, kind == Kind.CHAT ? replies.chatCompletion(id, created, generation)
                : replies.textCompletion(id, created, generation));
    }

    private void stream(Kind kind, GenerationRequest request, String id, long created, Exchange exchange)
            throws IOException, InterruptedException {
        BlockingQueue<Object> pieces = new LinkedBlockingQueue<>();
        GenerationJob job = scheduler.submit(request.prompt(), request.options(), pieces::add);
        job.whenDone(() -> pieces.add(END));
        exchange.request().addFailureListener(failure -> job.cancel());
        exchange.startEvents();
        try {
            if (kind == Kind.CHAT) {
                Map<String, Object> role = new LinkedHashMap<>();
                role.put("role", "assistant");
                role.put("content", "");
                exchange.event(replies.chatChunk(id, created, role, null));
            }
            for (Object piece = pieces.take(); piece != END; piece = pieces.take()) {
                exchange.event(kind == Kind.CHAT ? replies.chatChunk(id, created, Map.of("content", piece), null)
                        : replies.textChunk(id, created, (String) piece, null));
            }
            Generation generation = job.await();
            String finish = Replies.finishReason(generation);
            exchange.event(kind == Kind.CHAT ? replies.chatChunk(id, created, Map.of(), finish)
                    : replies.textChunk(id, created, "", finish));
            if (request.includeUsage()) {
                exchange.event(replies.usageChunk(id, kind == Kind.CHAT ? "chat.completion.chunk" : "text_completion", created, generation));
            }
            exchange.endEvents();
        } catch (IOException | InterruptedException | RuntimeException e) {
            job.cancel();
            throw e;
        }
    }

    private static String newId() {
        byte[] bytes = new byte[12];
        IDS.nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }
}
