package dev.panllama.server;

import dev.panllama.json.JsonReader;
import dev.panllama.json.JsonWriter;
import dev.panllama.script.ScriptMain;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A load test of an OpenAI-compatible server (panllama's, or llama-server): greedy streamed
 * {@code /v1/completions} of mixed prompt lengths and token limits, some at once, each bounded by a
 * timeout; it reports every reply's text and token count, and the tokens generated per second of
 * wall time. {@code scripts/bench-serve} runs its {@link #main}; the server's tests call {@link #run}.
 */
public final class LoadClient {

    /** One completion to ask for: a text prompt and the most tokens to generate. */
    public record Request(String prompt, int maxTokens) {
    }

    /**
     * What came back for one request: the streamed text, the completion tokens the usage reported, the
     * finish reason; or, when it failed, the HTTP status (0 for none) and the error.
     */
    public record Reply(String text, int completionTokens, String finishReason, int status, String error) {
        public boolean failed() {
            return error != null;
        }
    }

    /** The replies, in the requests' order, and the wall time from the first request sent to the last reply ended. */
    public record Run(List<Reply> replies, double seconds) {
        public long completionTokens() {
            return replies.stream().mapToLong(Reply::completionTokens).sum();
        }

        public double tokensPerSecond() {
            return completionTokens() / seconds;
        }

        public long failures() {
            return replies.stream().filter(Reply::failed).count();
        }
    }

    /** The token limits of {@link #mixedRequests(int, long)}: short replies, about half the prompts' tokens. */
    public static final int SHORT_REPLY_MIN = 4;
    public static final int SHORT_REPLY_MAX = 32;

    private static final String[] WORDS = {"river", "mountain", "quiet", "engine", "paper", "window", "seven", "garden",
        "winter", "copper", "signal", "harbor", "lantern", "orbit", "meadow", "violin"};

    /**
     * How long the unmeasured runs last at least. With one run of the demo model (about 3 s), panllama's
     * single stream was timed while its JIT still compiled: 123 tokens/s, against 146-154 in the next runs.
     */
    private static final Duration WARM_UP = Duration.ofSeconds(10);

    /** How far the warm-up runs' seeds lie from the measured runs' (two a round). */
    private static final long WARM_UP_SEEDS = 1_000_000;

    private LoadClient() {
    }

    /**
     * {@code count} requests of mixed lengths, the same for the same seed: prompts of 3 to 40 words, and
     * every eighth of 60 to 100 (long enough to take more than one batch), and limits of 4 to 32 tokens.
     */
    public static List<Request> mixedRequests(int count, long seed) {
        return mixedRequests(count, seed, SHORT_REPLY_MIN, SHORT_REPLY_MAX);
    }

    /**
     * The same prompts as {@link #mixedRequests(int, long)}, with limits of {@code minTokens} to
     * {@code maxTokens} tokens, drawn evenly.
     */
    public static List<Request> mixedRequests(int count, long seed, int minTokens, int maxTokens) {
        checkReplyLimits(minTokens, maxTokens);
        SplittableRandom random = new SplittableRandom(seed);
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int words = i % 8 == 7 ? random.nextInt(60, 101) : random.nextInt(3, 41);
            StringBuilder prompt = new StringBuilder("Request ").append(i).append(':');
            for (int w = 0; w < words; w++) {
                prompt.append(' ').append(WORDS[random.nextInt(WORDS.length)]);
            }
            requests.add(new Request(prompt.toString(), random.nextInt(minTokens, maxTokens + 1)));
        }
        return requests;
    }

    private static void checkReplyLimits(int minTokens, int maxTokens) {
        if (minTokens < 1 || maxTokens < minTokens) {
            throw new IllegalArgumentException("reply token limits must be 1 <= MIN <= MAX, not " + minTokens + ":" + maxTokens);
        }
    }

    /**
     * Sends {@code requests} to the server at {@code baseUrl} (such as {@code http://127.0.0.1:8080}),
     * at most {@code concurrency} at once, each streamed and given up after {@code timeout}.
     */
    public static Run run(URI baseUrl, String model, List<Request> requests, int concurrency, Duration timeout)
            throws InterruptedException {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout).build();
        Semaphore slots = new Semaphore(concurrency);
        List<Future<Reply>> pending = new ArrayList<>();
        long start = System.nanoTime();
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            for (Request request : requests) {
                pending.add(clients.submit(() -> {
                    slots.acquire();
                    try {
                        return stream(http, baseUrl, model, request, timeout);
                    } finally {
                        slots.release();
                    }
                }));
            }
            clients.shutdown();
            // Each request is bounded by its timeout; this bounds the waits for a turn as well.
            if (!clients.awaitTermination(timeout.toMillis() * (requests.size() / Math.max(1, concurrency) + 2), TimeUnit.MILLISECONDS)) {
                clients.shutdownNow();
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        List<Reply> replies = new ArrayList<>();
        for (Future<Reply> reply : pending) {
            replies.add(reply.state() == Future.State.SUCCESS ? reply.resultNow()
                    : new Reply("", 0, null, 0, reply.state() == Future.State.FAILED ? reply.exceptionNow().toString() : "timed out"));
        }
        return new Run(replies, seconds);
    }

    @SuppressWarnings("unchecked")
    private static Reply stream(HttpClient http, URI baseUrl, String model, Request request, Duration timeout) {
        Map<String, Object> body = new LinkedHashMap<>();
        if (model != null) {
            body.put("model", model);
        }
        body.put("prompt", request.prompt());
        body.put("max_tokens", request.maxTokens());
        body.put("temperature", 0);
        body.put("stream", true);
        body.put("stream_options", Map.of("include_usage", true));
        HttpRequest post = HttpRequest.newBuilder(baseUrl.resolve("/v1/completions")).timeout(timeout)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(JsonWriter.write(body))).build();
        try {
            HttpResponse<Stream<String>> response = http.send(post, HttpResponse.BodyHandlers.ofLines());
            try (Stream<String> lines = response.body()) {
                if (response.statusCode() != 200) {
                    return new Reply("", 0, null, response.statusCode(), String.join("\n", lines.toList()));
                }
                StringBuilder text = new StringBuilder();
                String finish = null;
                int tokens = -1;
                boolean done = false;
                for (Iterator<String> it = lines.iterator(); it.hasNext(); ) {
                    String line = it.next();
                    if (!line.startsWith("data: ")) {
                        continue;
                    }
                    String data = line.substring("data: ".length());
                    if (data.equals("[DONE]")) {
                        done = true;
                        break;
                    }
                    Map<String, Object> event = (Map<String, Object>) JsonReader.parse(data);
                    if (event.get("error") != null) {
                        return new Reply(text.toString(), 0, null, 200, data);
                    }
                    if (event.get("usage") instanceof Map<?, ?> usage) {
                        tokens = ((Number) usage.get("completion_tokens")).intValue();
                    }
                    for (Map<String, Object> choice : (List<Map<String, Object>>) event.get("choices")) {
                        text.append(choice.get("text") == null ? "" : choice.get("text"));
                        if (choice.get("finish_reason") instanceof String reason) {
                            finish = reason;
                        }
                    }
                }
                if (!done || tokens < 0 || finish == null) {
                    return new Reply(text.toString(), 0, finish, 200, "the stream ended without its finish, usage or [DONE]");
                }
                return new Reply(text.toString(), tokens, finish, 200, null);
            }
        } catch (IOException | RuntimeException e) {
            return new Reply("", 0, null, 0, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Reply("", 0, null, 0, "interrupted");
        }
    }

    /**
     * {@code LoadClient URL [CLIENTS] [BASELINE_REQUESTS] [SEED] [ROUNDS] [REPLY_TOKENS_MIN:MAX]}: after unmeasured runs of
     * {@code CLIENTS} (default 32) requests at once, one and more until {@link #WARM_UP} has passed,
     * {@code ROUNDS} (default 3) times runs
     * {@code BASELINE_REQUESTS} (default 8) of the mix one at a time and then {@code CLIENTS} at once,
     * and prints the tokens/s of each, their ratio per round, and the ratio of all rounds together (the
     * tokens of every round over their time), which varies less than any one round's: a round of a
     * small model lasts a few seconds, within reach of whatever else the machine does. Exits 1 when any
     * request failed. {@code REPLY_TOKENS_MIN:MAX} (default 4:32) sets the replies' token limits.
     */
    public static void main(String[] args) {
        ScriptMain.run("LoadClient URL [CLIENTS] [BASELINE_REQUESTS] [SEED] [ROUNDS] [REPLY_TOKENS_MIN:MAX]", 1, args, LoadClient::measure);
    }

    private static void measure(String[] args) throws InterruptedException {
        URI url = URI.create(args[0]);
        int clients = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        int baselineRequests = args.length > 2 ? Integer.parseInt(args[2]) : 8;
        long seed = args.length > 3 ? Long.parseLong(args[3]) : 1;
        int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 3;
        if (clients < 1 || baselineRequests < 1 || rounds < 1) {
            throw new IllegalArgumentException("CLIENTS, BASELINE_REQUESTS and ROUNDS must be positive");
        }
        int minTokens = SHORT_REPLY_MIN;
        int maxTokens = SHORT_REPLY_MAX;
        if (args.length > 5) {
            String[] range = args[5].split(":", -1);
            if (range.length != 2) {
                throw new IllegalArgumentException("REPLY_TOKENS must be MIN:MAX, not '" + args[5] + "'");
            }
            minTokens = Integer.parseInt(range[0]);
            maxTokens = Integer.parseInt(range[1]);
            checkReplyLimits(minTokens, maxTokens);
        }
        Duration timeout = Duration.ofMinutes(10);
        // Every run asks with prompts of its own (a seed of its own): a server that keeps earlier prompts'
        // caches (llama-server keeps them in host memory) would otherwise be timed on cache hits.
        // Unmeasured runs first, so that neither server is timed while it warms up (first graphs; a JVM's JIT,
        // which compiles the step code during the first seconds on the cores the model computes with).
        // Their seeds lie apart from the measured runs', so that however many warm-up runs a server takes,
        // every server is measured on the same requests.
        long warmUpSeed = seed + WARM_UP_SEEDS;
        long warmUpStart = System.nanoTime();
        do {
            Run warmUp = run(url, null, mixedRequests(clients, warmUpSeed++, minTokens, maxTokens), clients, timeout);
            if (warmUp.failures() == warmUp.replies().size()) {
                Reply first = warmUp.replies().getFirst();
                throw new IllegalStateException("every request to " + url + " failed, the first with status " + first.status() + ": " + first.error());
            }
        } while (System.nanoTime() - warmUpStart < WARM_UP.toNanos());
        List<Run> singles = new ArrayList<>();
        List<Run> togethers = new ArrayList<>();
        long nextSeed = seed;
        for (int round = 1; round <= rounds; round++) {
            Run single = run(url, null, mixedRequests(baselineRequests, nextSeed++, minTokens, maxTokens), 1, timeout);
            Run together = run(url, null, mixedRequests(clients, nextSeed++, minTokens, maxTokens), clients, timeout);
            singles.add(single);
            togethers.add(together);
            System.out.printf("round %d: one stream %d requests, %d tokens in %.2f s: %.1f tokens/s; %d streams %d tokens in %.2f s:"
                            + " %.1f tokens/s; ratio %.2fx%n", round, single.replies().size(), single.completionTokens(), single.seconds(),
                    single.tokensPerSecond(), clients, together.completionTokens(), together.seconds(), together.tokensPerSecond(),
                    together.tokensPerSecond() / single.tokensPerSecond());
        }
        double single = tokensPerSecond(singles);
        double together = tokensPerSecond(togethers);
        System.out.printf("one stream:  %.1f tokens/s, %d rounds of %d requests one at a time%n", single, rounds, baselineRequests);
        System.out.printf("%d streams: %.1f tokens/s, %d rounds of %d requests at once%n", clients, together, rounds, clients);
        System.out.printf("ratio: %.2fx (goal: 3x or more on the CPU)%n", together / single);
        List<Reply> failed = Stream.concat(singles.stream(), togethers.stream()).flatMap(r -> r.replies().stream())
                .filter(Reply::failed).toList();
        if (!failed.isEmpty()) {
            failed.forEach(reply -> System.err.println("failed (status " + reply.status() + "): " + reply.error()));
            System.exit(1);
        }
    }

    /** The tokens of all {@code runs} over their time together. */
    private static double tokensPerSecond(List<Run> runs) {
        return runs.stream().mapToLong(Run::completionTokens).sum() / runs.stream().mapToDouble(Run::seconds).sum();
    }
}
