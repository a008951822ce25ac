package dev.panllama.server;

import dev.panllama.api.Generation;

import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/**
 * What {@code /metrics} reports, in Prometheus' text format: requests by endpoint and status, tokens
 * and the time spent on them (so that a rate over the totals gives tokens/s), the speed of the last
 * request, the queue, and the tokens the KV cache holds.
 */
final class ServerMetrics {

    private final Map<String, LongAdder> requests = new ConcurrentSkipListMap<>();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder promptTokensEvaluated = new LongAdder();
    private final LongAdder generatedTokens = new LongAdder();
    private final DoubleAdder promptSeconds = new DoubleAdder();
    private final DoubleAdder generationSeconds = new DoubleAdder();
    private volatile double lastPromptTokensPerSecond;
    private volatile double lastGeneratedTokensPerSecond;

    /** Counts one answered request. */
    void request(String endpoint, int status) {
        requests.computeIfAbsent("endpoint=\"" + endpoint + "\",status=\"" + status + "\"", key -> new LongAdder()).increment();
    }

    /** Counts one finished generation. */
    void generation(Generation generation) {
        promptTokens.add(generation.promptIds().length);
        promptTokensEvaluated.add(generation.promptTokens());
        generatedTokens.add(generation.generatedIds().length);
        promptSeconds.add(generation.promptMillis() / 1000);
        generationSeconds.add(generation.generatedMillis() / 1000);
        lastPromptTokensPerSecond = generation.promptTokensPerSecond();
        lastGeneratedTokensPerSecond = generation.generatedTokensPerSecond();
    }

    /** The metrics as Prometheus reads them, with the queue's and the cache's state now. */
    String render(int waiting, int running, long cachedTokens, long cacheBytes, int contextLength) {
        StringBuilder out = new StringBuilder();
        header(out, "panllama_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
        requests.forEach((labels, count) -> out.append("panllama_requests_total{").append(labels).append("} ").append(count.sum()).append('\n'));
        metric(out, "panllama_prompt_tokens_total", "counter", "Prompt tokens of finished generations.", promptTokens.sum());
        metric(out, "panllama_prompt_tokens_evaluated_total", "counter",
                "Prompt tokens evaluated (the rest came from the KV cache).", promptTokensEvaluated.sum());
        metric(out, "panllama_prompt_seconds_total", "counter", "Time spent evaluating prompts.", promptSeconds.sum());
        metric(out, "panllama_generated_tokens_total", "counter", "Tokens generated.", generatedTokens.sum());
        metric(out, "panllama_generation_seconds_total", "counter", "Time spent generating tokens.", generationSeconds.sum());
        metric(out, "panllama_prompt_tokens_per_second", "gauge", "Prompt evaluation speed of the last generation.",
                lastPromptTokensPerSecond);
        metric(out, "panllama_generated_tokens_per_second", "gauge", "Generation speed of the last generation.",
                lastGeneratedTokensPerSecond);
        metric(out, "panllama_requests_waiting", "gauge", "Requests waiting for the model.", waiting);
        metric(out, "panllama_requests_running", "gauge", "Requests being generated.", running);
        metric(out, "panllama_kv_cache_tokens", "gauge", "Tokens held in the KV cache.", cachedTokens);
        metric(out, "panllama_kv_cache_capacity_tokens", "gauge", "Tokens the KV cache can hold (the context length).", contextLength);
        metric(out, "panllama_kv_cache_bytes", "gauge",
                "Memory the KV cache holds (host pages written so far, device cells), measured when a request ends and leaves the"
                        + " server idle, or at most every 10 s while requests keep running.", cacheBytes);
        return out.toString();
    }

    private static void metric(StringBuilder out, String name, String type, String help, Number value) {
        header(out, name, type, help);
        out.append(name).append(' ').append(value).append('\n');
    }

    private static void header(StringBuilder out, String name, String type, String help) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }
}
