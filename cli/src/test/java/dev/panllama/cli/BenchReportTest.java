package dev.panllama.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class BenchReportTest {

    @TempDir
    Path temp;

    /** Arrays appended one after another (bench-context's depths) and rows that nest the cache's per-layer objects. */
    @Test
    void rowsAreReadFromArraysOneAfterAnotherAndWithNestedObjects() throws IOException {
        Path json = Files.writeString(temp.resolve("runs.json"), """
                [{"model_filename":"/models/a [q4].gguf","model_size":1048576,"n_prompt":512,"n_gen":0,"avg_ts":100.5}]
                [{"n_prompt":0,"n_gen":128,"n_depth":8192,"avg_ts":40.25,"host_ns_per_step":250000,"host_fraction":0.01,
                  "expert_cache_hit_rate":0.625,"expert_cache_layers":[{"layer":0,"hit_rate":0.5},{"layer":1,"hit_rate":0.75}]}]
                """);
        Map<String, BenchReport.Row> rows = BenchReport.read(json);
        assertEquals(List.of("pp512", "tg128 @ d8192"), List.copyOf(rows.keySet()));
        assertEquals(new BenchReport.Row(100.5, Optional.empty(), Optional.empty(), Optional.empty()), rows.get("pp512"));
        assertEquals(new BenchReport.Row(40.25, Optional.of(250000.0), Optional.of(0.01), Optional.of(0.625)), rows.get("tg128 @ d8192"));
        assertEquals("a [q4].gguf, 1.00 MiB", BenchReport.model(json));
    }

    @Test
    void anUnclosedArrayIsRefused() throws IOException {
        Path json = Files.writeString(temp.resolve("cut.json"), "[{\"n_prompt\":512,\"n_gen\":0,\"avg_ts\":1.0}");
        assertThrows(IllegalArgumentException.class, () -> BenchReport.read(json));
    }
}
