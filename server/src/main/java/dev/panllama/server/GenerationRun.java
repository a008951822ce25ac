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
     * the calls' text (empty when there are no calls, whose text went out as pieces); the slot it ran in.
     */
    record Outcome(Generation generation, List<ToolCall> calls, List<TokenLogprobs> callScores, int slot) {
    }

    /** Put in a stream's queue after its last piece of text. */
    private static final Piece END = new Piece("", List.of());

    private GenerationRun() {
    }

    /**
     * A whole reply: the generation, its reasoning (where the request asked for it apart; else empty) and its
     * text, the tool calls that text makes, the scores of its tokens (when asked for), and the slot it ran in.
     */
    record Whole(Generation generation, String reasoning, String text, List<ToolCall> calls, List<TokenLogprobs> scores, int slot) {
    }

    /** Generates the whole reply (the first of the request's choices; the others are for {@link #wholeChoices}). */
    static Whole whole(BatchScheduler scheduler, GenerationRequest request, Exchange exchange) throws IOException, InterruptedException {
        return wholeChoices(scheduler, List.of(request), exchange).getFirst();
    }

    /**
     * Queues the choices of each of {@code requests} (a text completion's several prompts, or one request),
     * {@code outputs} giving each choice's output in order: all or none of them, so that a request refused
     * at the third prompt leaves none of the first two running.
     */
    private static List<GenerationJob> submit(BatchScheduler scheduler, List<GenerationRequest> requests,
                                              List<GenerationJob.Output> outputs) {
        List<GenerationJob> jobs = new ArrayList<>();
        try {
            for (GenerationRequest request : requests) {
                int first = jobs.size();
                jobs.addAll(scheduler.submitChoices(request.prompt(), request.choiceOptions(), request.logprobs(), request.reusePrompt(),
                        request.slot(), outputs.subList(first, first + request.choices())));
            }
        } catch (RuntimeException e) {
            jobs.forEach(GenerationJob::cancel);
            throw e;
        }
        return jobs;
    }

    /** Each choice's request, the choices of each request in turn: what a choice's number, from 0, stands for. */
    static List<GenerationRequest> byChoice(List<GenerationRequest> requests) {
        List<GenerationRequest> each = new ArrayList<>();
        for (GenerationRequest request : requests) {
            for (int i = 0; i < request.choices(); i++) {
                each.add(request);
            }
        }
        return each;
    }

    /** Generates the whole reply of each choice of each of {@code requests}, all together; in that order. */
    static List<Whole> wholeChoices(BatchScheduler scheduler, List<GenerationRequest> requests, Exchange exchange)
            throws IOException, InterruptedException {
        List<GenerationRequest> choices = byChoice(requests);
        // Filled on the decode thread; read once each job is done, which its outcome orders after.
        List<List<TokenLogprobs>> scores = new ArrayList<>();
        List<GenerationJob.Output> outputs = new ArrayList<>();
        for (int i = 0; i < choices.size(); i++) {
            List<TokenLogprobs> choiceScores = new ArrayList<>();
            scores.add(choiceScores);
            outputs.add((text, logprobs) -> choiceScores.addAll(logprobs));
        }
        List<GenerationJob> jobs = submit(scheduler, requests, outputs);
        exchange.request().addFailureListener(failure -> jobs.forEach(GenerationJob::cancel));
        try {
            List<Whole> wholes = new ArrayList<>();
            for (int i = 0; i < jobs.size(); i++) {
                while (!jobs.get(i).isDone(PROBE)) {
                    exchange.awaitingJson();
                }
                GenerationRequest request = choices.get(i);
                Generation generation = jobs.get(i).await();
                ReasoningSplit.Parts parts = new ReasoningSplit(request.reasoning()).whole(generation.text());
                wholes.add(new Whole(generation, parts.reasoning(), parts.content(), request.tools().callsIn(parts.content()), scores.get(i),
                        jobs.get(i).slot()));
            }
            return wholes;
        } catch (IOException | InterruptedException | RuntimeException e) {
            jobs.forEach(GenerationJob::cancel);
            throw e;
        }
    }

    /**
     * Generates the reply, running {@code start} once it is queued and handing its text to {@code sink}
     * as it is released; text that may still be a tool call waits until it is known not to be one.
     */
    static Outcome streamed(BatchScheduler scheduler, GenerationRequest request, Exchange exchange, Start start, PieceSink sink)
            throws IOException, InterruptedException {
        return streamedChoices(scheduler, List.of(request), exchange, start, (choice, piece) -> sink.accept(piece), (choice, outcome) -> { })
                .getFirst();
    }

    /** Where the pieces of several choices' streams go, each with its choice's number, from 0. */
    interface ChoicePieceSink {
        void accept(int choice, Piece piece) throws IOException;
    }

    /** Where a choice's outcome goes once its stream has ended, while the others may go on. */
    interface ChoiceEnd {
        void accept(int choice, Outcome outcome) throws IOException;
    }

    /** A piece of one choice's stream, or (with {@link #END}) the end of it. */
    private record ChoicePiece(int choice, Piece piece) {
    }

    /**
     * Generates the reply of each choice of each of {@code requests} together (numbered in that order, from
     * 0), running {@code start} once they are queued and handing each one's text to {@code sink}, tagged with
     * its choice, as it is released (text that may still be a tool call waits until it is known not to be
     * one); {@code end} hears of each choice once it is over. Returns the outcomes in choice order.
     */
    static List<Outcome> streamedChoices(BatchScheduler scheduler, List<GenerationRequest> requests, Exchange exchange, Start start,
                                         ChoicePieceSink sink, ChoiceEnd end) throws IOException, InterruptedException {
        List<GenerationRequest> choices = byChoice(requests);
        BlockingQueue<ChoicePiece> pieces = new LinkedBlockingQueue<>();
        List<GenerationJob.Output> outputs = new ArrayList<>();
        for (int i = 0; i < choices.size(); i++) {
            int choice = i;
            outputs.add((text, logprobs) -> pieces.add(new ChoicePiece(choice, new Piece(text, logprobs))));
        }
        List<GenerationJob> jobs = submit(scheduler, requests, outputs);
        for (int i = 0; i < jobs.size(); i++) {
            int choice = i;
            jobs.get(i).whenDone(() -> pieces.add(new ChoicePiece(choice, END)));
        }
        exchange.request().addFailureListener(failure -> jobs.forEach(GenerationJob::cancel));
        try {
            start.run();
            List<ChoiceStream> streams = new ArrayList<>();
            for (GenerationRequest request : choices) {
                streams.add(new ChoiceStream(request));
            }
            Outcome[] outcomes = new Outcome[jobs.size()];
            for (int open = jobs.size(); open > 0; ) {
                ChoicePiece next = pieces.take();
                int choice = next.choice();
                PieceSink choiceSink = piece -> sink.accept(choice, piece);
                if (next.piece() != END) {
                    streams.get(choice).pass(next.piece(), choiceSink);
                    continue;
                }
                outcomes[choice] = streams.get(choice).finish(jobs.get(choice), choices.get(choice), choiceSink);
                end.accept(choice, outcomes[choice]);
                open--;
            }
            return List.of(outcomes);
        } catch (IOException | InterruptedException | RuntimeException e) {
            jobs.forEach(GenerationJob::cancel);
            throw e;
        }
    }

    /** One choice's stream as the handler's thread passes it on: its reasoning split, and the text held while it may be a tool call. */
    private static final class ChoiceStream {
        private final ReasoningSplit reasoning;
        private final CallHoldBack held;
        private final StringBuilder text = new StringBuilder();
        private final List<TokenLogprobs> heldScores = new ArrayList<>();

        ChoiceStream(GenerationRequest request) {
            this.reasoning = new ReasoningSplit(request.reasoning());
            this.held = new CallHoldBack(request.tools());
        }

        void pass(Piece piece, PieceSink sink) throws IOException {
            heldScores.addAll(piece.logprobs());
            ReasoningSplit.Parts parts = reasoning.pass(piece.text());
            // A piece that releases nothing still goes out when nothing is held (its scores, a token of no text).
            GenerationRun.pass(parts, held, text, heldScores, sink, !reasoning.holds());
        }

        /** Passes on what is left once {@code job} is over: the tool calls it makes, or the text held back. */
        Outcome finish(GenerationJob job, GenerationRequest request, PieceSink sink) throws IOException, InterruptedException {
            GenerationRun.pass(reasoning.finish(), held, text, heldScores, sink, false);
            Generation generation = job.await();
            List<ToolCall> calls = request.tools().callsIn(text.toString());
            if (!calls.isEmpty()) {
                return new Outcome(generation, calls, List.copyOf(heldScores), job.slot());
            }
            if (!held.rest().isEmpty()) {
                sink.accept(new Piece(held.rest(), List.copyOf(heldScores)));
            }
            return new Outcome(generation, calls, List.of(), job.slot());
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
