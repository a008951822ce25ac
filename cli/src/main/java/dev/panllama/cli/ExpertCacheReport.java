package dev.panllama.cli;

import dev.panllama.script.ScriptMain;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Prints {@code scripts/bench-offload --cache}'s table: per test, tokens/s of llama.cpp's static split,
 * panllama's at the same placement, and panllama's with the hot-expert cache in the same device memory
 * (the routed experts all in host RAM, the cache holding what the static split gave whole layers), the
 * cache's gain over both, and its hit rate.
 */
final class ExpertCacheReport {

    private ExpertCacheReport() {
    }

    /** Arguments: llama-bench's JSON, panllama's static split's, panllama's with the cache, the threads, the configuration's name. */
    public static void main(String[] args) {
        ScriptMain.run("ExpertCacheReport LLAMA_BENCH.json STATIC.json CACHED.json THREADS NOTE", 5, args, ExpertCacheReport::print);
    }

    private static void print(String[] args) throws IOException {
        Map<String, BenchReport.Row> reference = BenchReport.read(Path.of(args[0]));
        Map<String, BenchReport.Row> split = BenchReport.read(Path.of(args[1]));
        Map<String, BenchReport.Row> cached = BenchReport.read(Path.of(args[2]));
        System.out.printf("threads: %s, model: %s, %s%n%n", args[3], BenchReport.model(Path.of(args[2])), args[4]);
        System.out.println("| test | llama.cpp static t/s | panllama static t/s | panllama cache t/s | cache / static | cache / llama.cpp | hits |");
        System.out.println("| ---- | -------------------: | ------------------: | -----------------: | -------------: | ----------------: | ---: |");
        split.forEach((test, ours) -> {
            BenchReport.Row theirs = reference.get(test);
            BenchReport.Row cache = cached.get(test);
            System.out.printf("| %s | %s | %.2f | %s | %s | %s | %s |%n", test,
                    theirs == null ? "-" : String.format("%.2f", theirs.tokensPerSecond()),
                    ours.tokensPerSecond(),
                    cache == null ? "-" : String.format("%.2f", cache.tokensPerSecond()),
                    cache == null ? "-" : String.format("%.3f", cache.tokensPerSecond() / ours.tokensPerSecond()),
                    cache == null || theirs == null ? "-" : String.format("%.3f", cache.tokensPerSecond() / theirs.tokensPerSecond()),
                    cache == null ? "-" : cache.expertHitRate().map(rate -> String.format("%.1f%%", 100 * rate)).orElse("-"));
        });
    }
}
