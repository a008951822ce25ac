package dev.panllama.e2e;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.convert.Converter;
import dev.panllama.convert.HfCheckpoint;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufTensorInfo;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.quantize.FileType;
import dev.panllama.quantize.Quantizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.containers.Container;
import org.testcontainers.containers.GenericContainer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code panllama quantize} and {@code convert} writing to a disk that is too small, in a container
 * with size-limited tmpfs mounts: one too small for the tensor data (refused before writing), one with
 * room for the data but not the header (fills up while writing). Either way: one clear line, a
 * non-zero exit, and nothing left on the disk.
 */
class FullDiskTest {

    @TempDir
    Path models;
    @TempDir
    Path host;

    @Test
    void aDiskTooSmallOrFillingUpLeavesNothingBehind() throws Exception {
        GenericContainer<?> configured = MinimalDebian.container(models);
        Path vocabulary = UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.F16, 61).withTiedOutput(true), vocabulary, models.resolve("model.gguf"));
        HfCheckpoint.write(new HfCheckpoint.Spec(true, 4, 64, 4, 2, 16, 96, 4, 1, 48, 2, "BF16", 2, true, false, 62),
                vocabulary, models.resolve("checkpoint"));

        // The same work on the host gives the sizes the container's disks are cut to.
        Path quantized = host.resolve("q.gguf");
        Quantizer.quantize(models.resolve("model.gguf"), quantized, new Quantizer.Options(FileType.Q4_0, false, false,
                null, null, 2, null, false), (a, b, c, d) -> { });
        Path converted = host.resolve("c.gguf");
        Converter.convert(models.resolve("checkpoint"), converted, new Converter.Options(FileType.Q8_0, 2), (a, b, c, d) -> { }, n -> { });
        long quantizeData = dataBytes(quantized), quantizeHeader = Files.size(quantized) - quantizeData;
        long convertData = dataBytes(converted), convertHeader = Files.size(converted) - convertData;
        assertTrue(quantizeHeader > 1 << 20 && convertHeader > 1 << 20, "the vocabulary makes headers of megabytes");

        try (GenericContainer<?> container = configured.withTmpFs(Map.of(
                "/tiny", "rw,size=64k",
                "/quantize", "rw,size=" + pages(quantizeData + quantizeHeader / 2),
                "/convert", "rw,size=" + pages(convertData + convertHeader / 2)))) {
            MinimalDebian.start(container);
            List<String> quantize = List.of(MinimalDebian.PANLLAMA, "quantize", "/models/model.gguf");
            List<String> convert = List.of(MinimalDebian.PANLLAMA, "convert", "/models/checkpoint");

            assertFails(container, "/tiny", "not enough disk space", quantize, "/tiny/q.gguf", "Q4_0");
            assertFails(container, "/tiny", "not enough disk space", convert, "/tiny/c.gguf", "--type", "Q8_0");
            assertFails(container, "/quantize", "the disk filled up while writing", quantize, "/quantize/q.gguf", "Q4_0");
            assertFails(container, "/convert", "the disk filled up while writing", convert, "/convert/c.gguf", "--type", "Q8_0");
        }
    }

    private static void assertFails(GenericContainer<?> container, String disk, String message, List<String> command,
                                    String... more) throws Exception {
        String[] args = java.util.stream.Stream.concat(command.stream(), java.util.Arrays.stream(more)).toArray(String[]::new);
        Container.ExecResult run = container.execInContainer(args);
        PanllamaProcess.assertFails(new PanllamaProcess.Run(run.getExitCode(), run.getStdout(), run.getStderr()), message);
        Container.ExecResult left = container.execInContainer("ls", "-A", disk);
        assertEquals("", left.getStdout().strip(), "nothing may be left on " + disk);
    }

    private static long dataBytes(Path file) {
        try (GgufFile gguf = GgufFile.open(file)) {
            return gguf.tensors().stream().mapToLong(GgufTensorInfo::byteSize).map(n -> (n + 31) / 32 * 32).sum();
        }
    }

    private static long pages(long bytes) {
        return (bytes + 4095) / 4096 * 4096;
    }
}
