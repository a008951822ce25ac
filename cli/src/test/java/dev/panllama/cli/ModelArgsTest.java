package dev.panllama.cli;

import dev.panllama.eval.KvCacheTypes;
import dev.panllama.ggml.GgmlType;
import dev.panllama.placement.FitOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelArgsTest {

    @Test
    void kvDeviceMemoryIsASizeAutoOrAllAndPlannedWhenNotGiven() {
        ModelArgs args = new ModelArgs();
        assertEquals(FitOptions.KV_AUTO, args.options().fit().kvDeviceMemory());
        args.kvDeviceMemory = "1.5GiB";
        assertEquals(3L << 29, args.options().fit().kvDeviceMemory());
        args.kvDeviceMemory = "512M";
        assertEquals(512L << 20, args.options().fit().kvDeviceMemory());
        args.kvDeviceMemory = "ALL";
        assertEquals(FitOptions.KV_ALL, args.options().fit().kvDeviceMemory());
        args.kvDeviceMemory = " auto";
        assertEquals(FitOptions.KV_AUTO, args.options().fit().kvDeviceMemory());
        for (String bad : new String[] {"0", "lots", "-1G", "automatic"}) {
            args.kvDeviceMemory = bad;
            var error = assertThrows(IllegalArgumentException.class, args::options, bad);
            assertTrue(error.getMessage().contains("--kv-device-memory"), error.getMessage());
        }
    }

    @Test
    void fitContextIsLlamaCppsDefaultAndMustBePositive() {
        ModelArgs args = new ModelArgs();
        assertEquals(4096, args.options().fit().minDeviceContext());
        args.fitContext = 16384;
        assertEquals(16384, args.options().fit().minDeviceContext());
        args.fitContext = 0;
        var error = assertThrows(IllegalArgumentException.class, args::options);
        assertTrue(error.getMessage().contains("--fit-ctx"), error.getMessage());
    }

    /** The options as the command line gives them, parsed by picocli as the commands parse theirs. */
    private static KvCacheTypes cacheTypes(String... line) {
        ModelArgs args = new ModelArgs();
        new CommandLine(args).parseArgs(line);
        return args.options().cacheTypes();
    }

    private static String refusal(String... line) {
        ModelArgs args = new ModelArgs();
        new CommandLine(args).parseArgs(line);
        return assertThrows(IllegalArgumentException.class, args::options, String.join(" ", line)).getMessage();
    }

    @Test
    void cacheTypesAreF16UnlessGivenAndCtkCtvSetKeysAndValuesAlone() {
        assertEquals(KvCacheTypes.F16, cacheTypes());
        assertEquals(KvCacheTypes.of(GgmlType.Q8_0), cacheTypes("--cache-type", "q8_0"));
        assertEquals(new KvCacheTypes(GgmlType.Q8_0, GgmlType.F16, GgmlType.Q8_0, GgmlType.F16), cacheTypes("-ctk", "q8_0"));
        assertEquals(new KvCacheTypes(GgmlType.F16, GgmlType.Q4_0, GgmlType.F16, GgmlType.Q4_0), cacheTypes("--cache-type-v", "Q4_0"));
        assertEquals(KvCacheTypes.of(GgmlType.F32, GgmlType.Q8_0), cacheTypes("--cache-type-k", "f32", "-ctv", "q8_0"));
        // -ctk and -ctv over --cache-type, each for its own half.
        assertEquals(KvCacheTypes.of(GgmlType.Q4_0, GgmlType.F32), cacheTypes("--cache-type", "f32", "-ctk", "q4_0"));
        assertEquals(KvCacheTypes.of(GgmlType.Q8_0, GgmlType.Q4_0), cacheTypes("-ctv", "q4_0", "--cache-type", "q8_0"));
    }

    @Test
    void theHostTierTypeSetsOnlyTheHostTierOfSplitLayers() {
        assertEquals(new KvCacheTypes(GgmlType.F16, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q8_0),
                cacheTypes("--kv-device-memory", "2GiB", "--cache-type-host", "q8_0"));
        // --kv-device-memory auto, the default, splits what the devices cannot hold.
        assertEquals(new KvCacheTypes(GgmlType.F16, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q8_0), cacheTypes("--cache-type-host", "q8_0"));
        assertEquals(new KvCacheTypes(GgmlType.Q8_0, GgmlType.F16, GgmlType.Q4_0, GgmlType.Q4_0),
                cacheTypes("-ctk", "q8_0", "--kv-device-memory", "2GiB", "--cache-type-host", "q4_0"));
        // Left out, the host tier is of the device tier's types.
        assertEquals(KvCacheTypes.of(GgmlType.Q8_0, GgmlType.F16), cacheTypes("-ctk", "q8_0", "--kv-device-memory", "2GiB"));
    }

    @Test
    void badCacheTypesAreRefusedNamingTheOption() {
        assertEquals("-ctk must be f16, f32, q8_0 or q4_0, not q5_1", refusal("-ctk", "q5_1"));
        assertEquals("-ctv must be f16, f32, q8_0 or q4_0, not bf16", refusal("-ctv", "bf16"));
        assertEquals("--cache-type must be f16, f32, q8_0 or q4_0, not fp8", refusal("--cache-type", "fp8"));
        assertEquals("--cache-type-host must be f16, f32, q8_0 or q4_0, not q4_k", refusal("--kv-device-memory", "1G", "--cache-type-host", "q4_k"));
        // A type that is a ggml type but not one the cache takes is refused as well as one that is not a type.
        assertEquals("-ctk must be f16, f32, q8_0 or q4_0, not i32", refusal("-ctk", "i32"));
        String message = refusal("--kv-device-memory", "all", "--cache-type-host", "q8_0");
        assertEquals("--cache-type-host sets the host tier of the layers --kv-device-memory splits, and --kv-device-memory all splits none",
                message);
    }

    @Test
    void theCommandSaysWhatIsWrongWithACacheTypeInOneLine(@TempDir Path temp) throws IOException {
        // The options are read before the file is: any file will do.
        Path model = Files.createFile(temp.resolve("model.gguf"));
        CommandRun result = CommandRun.of("generate", "-m", model.toString(), "-ctk", "q5_1", "-p", "hi");
        assertEquals(2, result.exitCode(), result.err());
        assertEquals(1, result.err().strip().lines().count(), result.err());
        assertTrue(result.err().contains("-ctk must be f16, f32, q8_0 or q4_0, not q5_1"), result.err());
    }
}
