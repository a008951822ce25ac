package dev.panllama.server;

import dev.panllama.api.Completion;
import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.eval.BatchEvaluator;
import dev.panllama.eval.BatchEvaluator.SequenceTokens;
import dev.panllama.ggml.GgmlType;
import dev.panllama.json.JsonWriter;
import dev.panllama.sampling.SamplingOptions;
import dev.panllama.tokenizer.StreamingDecoder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Requests generated together ({@code --parallel}): the same greedy replies as alone, a client that
 * leaves freeing its slot while the others go on, a full context ending the newest sequence, and a load
 * of 32 streaming clients against 8 slots. The model is in F32 with an F32 KV cache, the settings under
 * which ggml computes a token the same whatever shares its micro-batch (within 2e-5 of the logits and
 * 4e-6 of the router scores, measured with a batch of 64 tokens against the token alone; see
 * {@link TestModel#exactOptions}). A greedy reply may then differ from the request run alone only where
 * that difference can swap two choices: where the alone run's two best logits were within
 * {@link #NEAR_TIE} of each other, or where a router's last chosen expert and the best one not chosen
 * scored within {@link #ROUTER_NEAR_TIE} (an expert chosen differently changes everything after it).
 * Any other difference fails the tests; those at a near tie are counted and printed.
 */
class ParallelServingTest {

    static final float NEAR_TIE = 1e-3f;
    /** 25 times the largest router score difference measured between batch shapes. */
    static final float ROUTER_NEAR_TIE = 1e-4f;

    @TempDir
    static Path temp;
    static Path file;
    static LlamaModel model;

    @BeforeAll
    static void openModel() throws IOException {
        file = TestModel.write(temp, GgmlType.F32);
        model = LlamaModel.open(file, TestModel.exactOptions());
    }

    @AfterAll
    static void closeModel() {
        model.close();
    }

    /** A greedy generation of one request alone, through the facade, with the logits each of its tokens was picked from. */
    record Alone(int[] ids, List<float[]> logits, String text) {
    }

    static Alone alone(LlamaModel model, int[] prompt, int maxTokens) {
        List<float[]> logits = new ArrayList<>();
        try (Completion completion = model.newCompletion()) {
            // The last prompt position's logits pick the first token; each generated token's, the next.
            Generation generation = completion.complete(prompt, greedy(maxTokens), piece -> { },
                    (position, row) -> logits.add(row.clone()), 1);
            return new Alone(generation.generatedIds(), logits, generation.text());
        }
    }

    static GenerationOptions greedy(int maxTokens) {
        return GenerationOptions.defaults().withSampling(SamplingOptions.greedy()).withMaxTokens(maxTokens);
    }

    /** The gap between the two largest logits. */
    static float topTwoGap(float[] logits) {
        float first = Float.NEGATIVE_INFINITY;
        float second = Float.NEGATIVE_INFINITY;
        for (float value : logits) {
            if (value > first) {
                second = first;
                first = value;
            } else if (value > second) {
                second = value;
            }
        }
        return first - second;
    }

    /** What may make a batched reply differ from the alone run: two nearly equal choices. */
    enum NearTie { LOGITS, ROUTER }

    /**
     * The near tie, if any, that explains a reply to {@code prompt} first differing from {@code alone} at
     * one of the steps {@code from..to}: the alone run's top two logits at one of those steps within
     * {@link #NEAR_TIE}, or a router's choice for a token evaluated before step {@code to} within
     * {@link #ROUTER_NEAR_TIE}; null when there is none.
     */
    static NearTie nearTie(int[] prompt, Alone alone, int from, int to) {
        for (int step = from; step <= Math.min(to, alone.logits().size() - 1); step++) {
            if (topTwoGap(alone.logits().get(step)) < NEAR_TIE) {
                return NearTie.LOGITS;
            }
        }
        return smallestRouterGap(prompt, alone.ids(), Math.min(to, alone.ids().length)) < ROUTER_NEAR_TIE ? NearTie.ROUTER : null;
    }

    /**
     * Over every token of {@code prompt} and {@code generated[0..steps)}, evaluated as the alone run
     * evaluates them, and every mixture-of-experts layer: the smallest gap between the router scores of
     * the last expert chosen and of the best one not chosen.
     */
    static float smallestRouterGap(int[] prompt, int[] generated, int steps) {
        int used = model.config().experts().used();
        float[] smallest = {Float.POSITIVE_INFINITY};
        try (BatchEvaluator evaluator = model.newBatchEvaluator(1)) {
            evaluator.open(0);
            evaluator.observeRouters(scores -> {
                float[] sorted = scores.scores().clone();
                Arrays.sort(sorted);
                int lastChosen = sorted.length - used;
                smallest[0] = Math.min(smallest[0], sorted[lastChosen] - sorted[lastChosen - 1]);
            });
            evaluator.evaluate(List.of(new SequenceTokens(0, prompt, prompt.length - 1)));
            for (int step = 0; step < steps; step++) {
                evaluator.evaluate(List.of(new SequenceTokens(0, new int[] {generated[step]}, 0)));
            }
        }
        return smallest[0];
    }

    @Test
    void concurrentGreedyRequestsEqualTheSameRequestsAlone() throws Exception {
        // Longer prompts than the batch of 64 take several steps; six requests for four slots, so two join later.
        int[] promptWords = {3, 20, 60, 140, 8, 180};
        int[] maxTokens = {24, 16, 40, 20, 32, 12};
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < promptWords.length; i++) {
            prompts.add(model.tokenizer().encode("Story " + i + ":" + " once upon a time".repeat(promptWords[i] / 4 + 1), true, true));
        }
        List<GenerationJob> jobs = new ArrayList<>();
        List<Generation> together = new ArrayList<>();
        try (BatchScheduler scheduler = new BatchScheduler(model, 4, 16, new ServerMetrics())) {
            for (int i = 0; i < prompts.size(); i++) {
                jobs.add(scheduler.submit(prompts.get(i), greedy(maxTokens[i]), GenerationJob.NO_LOGPROBS, true, (text, logprobs) -> { }));
            }
            for (GenerationJob job : jobs) {
                together.add(job.await());
            }
        }
        int nearTies = 0;
        for (int i = 0; i < prompts.size(); i++) {
            Alone alone = alone(model, prompts.get(i), maxTokens[i]);
            int[] batched = together.get(i).generatedIds();
            int differ = 0;
            while (differ < Math.min(batched.length, alone.ids().length) && batched[differ] == alone.ids()[differ]) {
                differ++;
            }
            if (differ == batched.length && differ == alone.ids().length) {
                assertEquals(alone.text(), together.get(i).text());
                continue;
            }
            assertTrue(differ < batched.length && differ < alone.ids().length,
                    "request " + i + ": one reply is the start of the other, yet they stopped differently");
            NearTie tie = nearTie(prompts.get(i), alone, differ, differ);
            System.out.printf(Locale.ROOT, "request %d: first differs at token %d, after a near tie of the %s%n", i, differ, tie);
            assertTrue(tie != null, "request " + i + " differs at token " + differ + " where alone the top two logits were "
                    + topTwoGap(alone.logits().get(differ)) + " apart, and no router was near a tie");
            nearTies++;
        }
        System.out.printf("%d of %d concurrent greedy replies equal the same request alone; %d first differ at a near tie%n",
                prompts.size() - nearTies, prompts.size(), nearTies);
    }

    @Test
    void aClientThatLeavesFreesItsSlotAndTheOthersGoOn() throws Exception {
        try (OpenAiServer server = OpenAiServer.start(model, ServerOptions.defaults(TestModel.ID).withPort(0).withParallel(2)
                .withMaxQueuedRequests(0))) {
            try (EndlessStream leaving = new EndlessStream(server, 1); EndlessStream staying = new EndlessStream(server, 2)) {
                leaving.read(3);
                staying.read(3);
                // Both slots are taken and none may wait.
                OpenAiServerTest.assertError(OpenAiServerTest.post(server, "/v1/chat/completions", OpenAiServerTest.chat("\"max_tokens\": 2")),
                        429, null, "rate_limit_exceeded");
                leaving.close();
                awaitMetric(server, "panllama_requests_running 1");
                awaitMetric(server, "panllama_requests_total{endpoint=\"/v1/chat/completions\",status=\"499\"} 1");
                // The slot is free while the other stream goes on.
                assertEquals(200, OpenAiServerTest.post(server, "/v1/chat/completions", OpenAiServerTest.chat("\"max_tokens\": 2")).statusCode());
                staying.read(5);
            }
            awaitMetric(server, "panllama_requests_running 0");
        }
    }

    /**
     * A request whose prompt starts as a running one's does (a common system prompt) takes that start's
     * cells instead of computing them: it evaluates only the rest, and the cache holds the start once.
     */
    @Test
    void aSystemPromptRunningInOneSlotIsSharedWithTheNext() throws Exception {
        String system = "You are a careful assistant. " + "Answer in one short sentence, plainly. ".repeat(6);
        int[] first = model.tokenizer().encode(system + "What is the sea?", true, true);
        int[] second = model.tokenizer().encode(system + "Why is the sky blue at noon?", true, true);
        int common = 0;
        while (first[common] == second[common]) {
            common++;
        }
        try (BatchScheduler scheduler = new BatchScheduler(model, 2, 0, new ServerMetrics())) {
            java.util.concurrent.CountDownLatch decoding = new java.util.concurrent.CountDownLatch(1);
            GenerationJob running = scheduler.submit(first, greedy(60), GenerationJob.NO_LOGPROBS, true, (text, logprobs) -> decoding.countDown());
            assertTrue(decoding.await(2, java.util.concurrent.TimeUnit.MINUTES), "the first request did not start");
            GenerationJob joining = scheduler.submit(second, greedy(4), GenerationJob.NO_LOGPROBS, true, (text, logprobs) -> { });
            Generation joined = joining.await();
            long cellsWhileBoth = scheduler.cachedTokens();
            Generation ran = running.await();
            assertEquals(1, scheduler.sharedPrompts(), "the second request shared the first one's cells");
            assertEquals(second.length - common, joined.promptTokens(), "the second request evaluated only what it does not share");
            assertTrue(cellsWhileBoth < first.length + second.length, cellsWhileBoth + " cells for prompts of " + first.length
                    + " and " + second.length + " tokens sharing " + common);
            assertEquals(first.length, ran.promptTokens());
        }
    }

    /**
     * The choices of one request ({@code n}): the first evaluates the prompt, the others take its cells and
     * evaluate only its last token again; greedy, each equals the request alone (but at a near tie).
     */
    @Test
    void theChoicesOfOneRequestShareItsPrompt() throws Exception {
        int[] prompt = model.tokenizer().encode("Three answers to one question: " + "why is the sea salty? ".repeat(8), true, true);
        int maxTokens = 16;
        List<Generation> choices = new ArrayList<>();
        try (BatchScheduler scheduler = new BatchScheduler(model, 3, 0, new ServerMetrics())) {
            List<GenerationJob> jobs = scheduler.submitChoices(prompt, List.of(greedy(maxTokens), greedy(maxTokens), greedy(maxTokens)),
                    GenerationJob.NO_LOGPROBS, false, List.of((text, logprobs) -> { }, (text, logprobs) -> { }, (text, logprobs) -> { }));
            for (GenerationJob job : jobs) {
                choices.add(job.await());
            }
            assertEquals(2, scheduler.sharedPrompts(), "the second and third choices took the first's cells");
        }
        assertEquals(prompt.length, choices.get(0).promptTokens(), "the first evaluates the whole prompt");
        assertEquals(1, choices.get(1).promptTokens());
        assertEquals(1, choices.get(2).promptTokens());
        Alone alone = alone(model, prompt, maxTokens);
        for (int i = 0; i < choices.size(); i++) {
            int[] ids = choices.get(i).generatedIds();
            int differ = 0;
            while (differ < Math.min(ids.length, alone.ids().length) && ids[differ] == alone.ids()[differ]) {
                differ++;
            }
            if (differ < Math.max(ids.length, alone.ids().length)) {
                assertTrue(nearTie(prompt, alone, differ, differ) != null, "choice " + i + " differs from the request alone at token "
                        + differ + " with no near tie");
            }
        }
    }

    @Test
    void aFullContextEndsTheNewestSequenceAndTheOthersGoOn() throws Exception {
        int context = 160;
        try (LlamaModel small = LlamaModel.open(file, TestModel.exactOptions().withContextLength(context));
             BatchScheduler scheduler = new BatchScheduler(small, 2, 0, new ServerMetrics())) {
            int[] prompt = small.tokenizer().encode("Tell me everything.", true, true);
            GenerationJob older = scheduler.submit(prompt, greedy(-1), GenerationJob.NO_LOGPROBS, true, (text, logprobs) -> { });
            GenerationJob newer = scheduler.submit(prompt, greedy(-1), GenerationJob.NO_LOGPROBS, true, (text, logprobs) -> { });
            Generation first = older.await();
            Generation second = newer.await();
            assertEquals(Generation.StopReason.CONTEXT_FULL, first.stopReason());
            assertEquals(Generation.StopReason.CONTEXT_FULL, second.stopReason());
            // The newer stopped when the two filled the context; the older went on alone to its end.
            assertTrue(first.generatedIds().length > second.generatedIds().length,
                    first.generatedIds().length + " tokens for the older, " + second.generatedIds().length + " for the newer");
            assertTrue(prompt.length + first.generatedIds().length >= context, "the older stopped at "
                    + (prompt.length + first.generatedIds().length) + " tokens of " + context);
        }
    }

    @Test
    void thirtyTwoStreamingClientsAgainstEightSlots() throws Exception {
        List<LoadClient.Request> requests = LoadClient.mixedRequests(32, 7);
        Duration timeout = Duration.ofMinutes(3);
        LoadClient.Run single;
        LoadClient.Run together;
        try (OpenAiServer server = OpenAiServer.start(model, ServerOptions.defaults(TestModel.ID).withPort(0).withParallel(8)
                .withMaxQueuedRequests(32))) {
            URI url = URI.create("http://127.0.0.1:" + server.port());
            single = LoadClient.run(url, TestModel.ID, requests.subList(0, 2), 1, timeout);
            together = LoadClient.run(url, TestModel.ID, requests, 32, timeout);
        }
        System.out.printf(Locale.ROOT, "one stream: %.1f tokens/s; 32 streams: %.1f tokens/s together (%.2fx; not asserted, see scripts/bench-serve)%n",
                single.tokensPerSecond(), together.tokensPerSecond(), together.tokensPerSecond() / single.tokensPerSecond());
        for (LoadClient.Reply reply : together.replies()) {
            assertFalse(reply.failed(), () -> "status " + reply.status() + ": " + reply.error());
        }
        assertEquals(0, single.failures());
        int equal = 0;
        int logitTies = 0;
        int routerTies = 0;
        List<String> unexplained = new ArrayList<>();
        for (int i = 0; i < requests.size(); i++) {
            LoadClient.Request request = requests.get(i);
            LoadClient.Reply reply = together.replies().get(i);
            assertTrue(reply.completionTokens() <= request.maxTokens(), "request " + i + " went past its max_tokens");
            int[] prompt = model.tokenizer().encode(request.prompt(), true, true);
            Alone alone = alone(model, prompt, request.maxTokens());
            if (alone.text().equals(reply.text())) {
                assertEquals(alone.ids().length, reply.completionTokens(), "request " + i);
                equal++;
                continue;
            }
            // Over HTTP only the text comes back: the tokens first differ at or before the first alone token
            // whose text leaves the reply's.
            int leaves = firstTokenLeaving(alone.ids(), reply.text());
            NearTie tie = nearTie(prompt, alone, 0, leaves);
            String difference = String.format(Locale.ROOT, "request %d differs by token %d, after a near tie of the %s"
                    + " (%d tokens, finish %s, text %s; alone %d tokens, text %s)", i, leaves, tie, reply.completionTokens(),
                    reply.finishReason(), JsonWriter.write(reply.text()), alone.ids().length, JsonWriter.write(alone.text()));
            System.out.println(difference);
            if (tie == NearTie.LOGITS) {
                logitTies++;
            } else if (tie == NearTie.ROUTER) {
                routerTies++;
            } else {
                unexplained.add(difference);
            }
        }
        System.out.printf("%d streaming clients against --parallel 8: no errors; %d replies equal the same request alone, %d differ"
                + " after a near tie of the logits, %d after a near tie of a router, %d without one%n", requests.size(), equal,
                logitTies, routerTies, unexplained.size());
        assertTrue(unexplained.isEmpty(), "replies differ from the same request alone without a near tie: " + unexplained);
    }

    /** The index of the first of {@code ids} whose text, decoded in order, is no longer the start of {@code text}; or their count. */
    static int firstTokenLeaving(int[] ids, String text) {
        StreamingDecoder decoder = model.tokenizer().streamingDecoder();
        StringBuilder decoded = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            decoded.append(decoder.next(ids[i], false));
            if (!text.startsWith(decoded.toString())) {
                return i;
            }
        }
        return ids.length;
    }

    static void awaitMetric(OpenAiServer server, String line) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            String metrics = OpenAiServerTest.send(server, "GET", "/metrics", null, null).body();
            if (metrics.contains(line + "\n")) {
                return;
            }
            assertTrue(System.nanoTime() < deadline, "no '" + line + "' in\n" + metrics);
            Thread.sleep(20);
        }
    }

    /** A streamed chat that goes on to the context's end unless its client leaves, read over a raw socket. */
    static final class EndlessStream implements AutoCloseable {
        private final Socket socket;
        private final BufferedReader in;

        EndlessStream(OpenAiServer server, int seed) throws IOException {
            socket = OpenAiServerTest.endlessChat(server, true, seed);
            socket.setSoTimeout(60_000);
            in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
        }

        /** Reads {@code count} more events, failing if the stream ends first. */
        void read(int count) throws IOException {
            int events = 0;
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (line.startsWith("data: ")) {
                    assertFalse(line.contains("[DONE]") || line.contains("\"error\""), line);
                    if (++events == count) {
                        return;
                    }
                }
            }
            throw new AssertionError("the stream ended after " + events + " of " + count + " events");
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
