package dev.panllama.server;

import dev.panllama.api.Generation;
import dev.panllama.chat.CallHoldBack;
import dev.panllama.chat.ReasoningSplit;
import dev.panllama.chat.ToolCall;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * One request's generation on the {@link BatchScheduler}, from the handler's thread, whichever API
 * writes the reply: queued, cancelled when the client goes, and its text either awaited whole or
 * handed on piece by piece as it is released. A whole reply not ready within {@link #PROBE} sends a
 * newline every such interval ahead of its JSON, so that a client that leaves is noticed as soon. A
 * reply that may call tools holds its streamed text back while it may still be a call.
 */
final class GenerationRun {

    /** How long a whole reply waits before, and between, the newlines that find out whether its client is still there. */
    static final Duration PROBE = Duration.ofMillis(200);

    /**
     * A piece of a stream: text, or reasoning (where the request asked for it apart; else always empty), and
     * the scores of the tokens it came from (when asked for).
     */
    record Piece(String reasoning, String text, List<TokenLogprobs> logprobs) {
        Piece(String text, List<TokenLogprobs> logprobs) {
            this("", text, logprobs);
        }
    }

    /** Where a streamed reply's pieces go, in order; a write that fails because the client left throws. */
    interface PieceSink {
        void accept(Piece piece) throws IOException;
    }

    /** What the stream's start writes once the request is queued (a refusal before it is still an error reply). */
    interface Start {
        void run() throws IOException;
    }

    /**
     * The generation and its tool calls; {@code callScores} are the scores of the tokens held back as
     * the calls' text (empty when there are no calls, whose text went out as pieces).
     */
    record Outcome(Generation generation, List<ToolCall> calls, List<TokenLogprobs> callScores) {
    }

    /** Put in a stream's queue after its last piece of text. */
    private static final Piece END = new Piece("", List.of());

    private GenerationRun() {
    }

    /**
     * A whole reply: the generation, its reasoning (where the request asked for it apart; else empty) and its
     * text, the tool calls that text makes, and the scores of its tokens (when asked for).
     */
    record Whole(Generation generation, String reasoning, String text, List<ToolCall> calls, List<TokenLogprobs> scores) {
    }

    /** Generates the whole reply. */
    static Whole whole(BatchScheduler scheduler, GenerationRequest request, Exchange exchange) throws IOException, InterruptedException {
        // Filled on the decode thread; read once the job is done, which the job's outcome orders after.
        List<TokenLogprobs> scores = new ArrayList<>();
        GenerationJob job = scheduler.submit(request.prompt(), request.options(), request.logprobs(), request.reusePrompt(),
                (text, logprobs) -> scores.addAll(logprobs));
        exchange.request().addFailureListener(failure -> job.cancel());
        try {
            while (!job.isDone(PROBE)) {
                exchange.awaitingJson();
            }
            Generation generation = job.await();
            ReasoningSplit.Parts parts = new ReasoningSplit(request.reasoning()).whole(generation.text());
            return new Whole(generation, parts.reasoning(), parts.content(), request.tools().callsIn(parts.content()), scores);
        } catch (IOException | InterruptedException | CancellationException e) {
            job.cancel();
            throw e;
        }
    }

    /**
     * Generates the reply, running {@code start} once it is queued and handing its text to {@code sink}
     * as it is released; text that may still be a tool call waits until it is known not to be one.
     */
    static Outcome streamed(BatchScheduler scheduler, GenerationRequest request, Exchange exchange, Start start, PieceSink sink)
            throws IOException, InterruptedException {
        BlockingQueue<Piece> pieces = new LinkedBlockingQueue<>();
        GenerationJob job = scheduler.submit(request.prompt(), request.options(), request.logprobs(), request.reusePrompt(),
                (text, logprobs) -> pieces.add(new Piece(text, logprobs)));
        job.whenDone(() -> pieces.add(END));
        exchange.request().addFailureListener(failure -> job.cancel());
        try {
            start.run();
            ReasoningSplit reasoning = new ReasoningSplit(request.reasoning());
            CallHoldBack held = new CallHoldBack(request.tools());
            StringBuilder text = new StringBuilder();
            List<TokenLogprobs> heldScores = new ArrayList<>();
            for (Piece piece = pieces.take(); piece != END; piece = pieces.take()) {
                heldScores.addAll(piece.logprobs());
                ReasoningSplit.Parts parts = reasoning.pass(piece.text());
                // A piece that releases nothing still goes out when nothing is held (its scores, a token of no text).
                pass(parts, held, text, heldScores, sink, !reasoning.holds());
            }
            pass(reasoning.finish(), held, text, heldScores, sink, false);
            Generation generation = job.await();
            List<ToolCall> calls = request.tools().callsIn(text.toString());
            if (!calls.isEmpty()) {
                return new Outcome(generation, calls, heldScores);
            }
            if (!held.rest().isEmpty()) {
                sink.accept(new Piece(held.rest(), heldScores));
            }
            return new Outcome(generation, calls, List.of());
        } catch (IOException | InterruptedException | RuntimeException e) {
            job.cancel();
            throw e;
        }
    }

    /**
     * Hands on what {@code parts} release: reasoning at once, text once it cannot be a tool call (kept in
     * {@code text}, whose calls are read at the end), each with the scores held since the last piece went out;
     * {@code evenEmpty} sends a piece of nothing too, unless the tool calls' hold-back holds text.
     */
    private static void pass(ReasoningSplit.Parts parts, CallHoldBack held, StringBuilder text, List<TokenLogprobs> heldScores,
                             PieceSink sink, boolean evenEmpty) throws IOException {
        text.append(parts.content());
        String released = held.pass(parts.content());
        if (!parts.reasoning().isEmpty() || !released.isEmpty() || (evenEmpty && held.rest().isEmpty())) {
            sink.accept(new Piece(parts.reasoning(), released, List.copyOf(heldScores)));
            heldScores.clear();
        }
    }
}
