package dev.panllama.cli;

import dev.panllama.script.ScriptMain;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Prints scripts/bench-offload --sweep's table: prompt processing tokens/s by batch size with the
 * routed experts in host RAM, with ggml's op offload forced on (every batch copies the experts it uses
 * to the GPU and multiplies there) and forced off (the CPU multiplies them), for llama.cpp and
 * panllama. Where "on" overtakes "off" is the batch size from which offloading pays on this machine:
 * the value for GGML_OP_OFFLOAD_MIN_BATCH.
 */
final class OffloadSweepReport {

    private OffloadSweepReport() {
    }

    /** Arguments: llama-bench's JSON with offload on, with it off, then panllama's on and off. */
    public static void main(String[] args) {
        ScriptMain.run("OffloadSweepReport LLAMA_BENCH_ON.json LLAMA_BENCH_OFF.json PANLLAMA_ON.json PANLLAMA_OFF.json", 4, args,
                OffloadSweepReport::print);
    }

    private static void print(String[] args) throws IOException {
        Map<String, BenchReport.Row> referenceOn = BenchReport.read(Path.of(args[0]));
        Map<String, BenchReport.Row> referenceOff = BenchReport.read(Path.of(args[1]));
        Map<String, BenchReport.Row> oursOn = BenchReport.read(Path.of(args[2]));
        Map<String, BenchReport.Row> oursOff = BenchReport.read(Path.of(args[3]));
        System.out.println("| batch | llama.cpp offload on t/s | off t/s | panllama offload on t/s | off t/s | panllama: offload pays |");
        System.out.println("| ----: | -----------------------: | ------: | ----------------------: | ------: | :--------------------: |");
        for (String test : oursOn.keySet()) {
            double on = oursOn.get(test).tokensPerSecond();
            BenchReport.Row off = oursOff.get(test);
            System.out.printf("| %s | %s | %s | %.1f | %s | %s |%n", test.substring(2), rate(referenceOn, test), rate(referenceOff, test), on,
                    off == null ? "-" : String.format("%.1f", off.tokensPerSecond()),
                    off == null ? "-" : on > off.tokensPerSecond() ? "yes" : "no");
        }
    }

    private static String rate(Map<String, BenchReport.Row> rows, String test) {
        BenchReport.Row row = rows.get(test);
        return row == null ? "-" : String.format("%.1f", row.tokensPerSecond());
    }
}
