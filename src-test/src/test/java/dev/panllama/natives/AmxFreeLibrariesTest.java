package dev.panllama.natives;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativeLibraries;
import dev.panllama.bindings.NativePin;
import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.BufferType;
import dev.panllama.reference.ReferenceMain;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * No ggml library that panllama builds, ships or compares against can reach ggml's AMX kernels, which
 * crash at this pin on Xeons from Sapphire Rapids on (see scripts/build-native): their machine code has
 * no AMX instruction and their symbols no AMX buffer type, checked by scripts/check-no-amx, on every
 * machine, whatever its CPU.
 */
class AmxFreeLibrariesTest {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path CHECK = ROOT.resolve("scripts/check-no-amx");

    @TempDir
    static Path temp;

    @BeforeAll
    static void onlyOnX86() {
        assumeTrue(NativeLibraries.platform().endsWith("x86_64"), "AMX is an x86-64 extension");
    }

    @Test
    void theCheckFindsAmxCodeWhereThereIsSome() throws Exception {
        Path source = Files.writeString(temp.resolve("tiles.c"), """
                #include <immintrin.h>
                void load_tiles(const void *config, const void *data) {
                    _tile_loadconfig(config);
                    _tile_loadd(0, data, 64);
                    _tile_release();
                }
                """);
        Path library = temp.resolve("libggml-amx-probe.so");
        Process compiler = new ProcessBuilder("cc", "-O2", "-shared", "-fPIC", "-mamx-tile", source.toString(), "-o", library.toString())
                .redirectErrorStream(true).start();
        String output = new String(compiler.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(compiler.waitFor(60, TimeUnit.SECONDS) && compiler.exitValue() == 0, "cc failed: " + output);

        Check check = check(library);
        assertEquals(1, check.exitCode(), check.output());
        assertTrue(check.output().contains("AMX code in " + library), check.output());
    }

    @Test
    void everyCpuVariantInTheDistributedJarIsFreeOfAmx() throws Exception {
        Path jar = ROOT.resolve("cli/target/dist/panllama.jar");
        assertTrue(Files.isRegularFile(jar), jar + " is missing: build it with scripts/package");
        Path unpacked = Files.createDirectories(temp.resolve("jar-natives"));
        List<String> variants = new ArrayList<>();
        String folder = "native/" + NativeLibraries.platform() + "/";
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            for (ZipEntry entry : zip.stream().filter(e -> e.getName().startsWith(folder) && e.getName().contains("libggml")).toList()) {
                String name = entry.getName().substring(folder.length());
                try (InputStream in = zip.getInputStream(entry)) {
                    Files.copy(in, unpacked.resolve(name));
                }
                if (name.startsWith("libggml-cpu-")) {
                    variants.add(name);
                }
            }
        }
        // The portable set, less the one variant that targets AMX.
        assertTrue(variants.contains("libggml-cpu-haswell.so") && variants.contains("libggml-cpu-zen4.so"), "CPU variants in the jar: " + variants);
        assertFalse(variants.contains("libggml-cpu-sapphirerapids.so"), "the jar still has the AMX variant: " + variants);
        assertNoAmx(unpacked);
    }

    @Test
    void theBuildTunedForThisMachineIsFreeOfAmx() throws Exception {
        assertNoAmx(UserCache.user().hostLibraries(NativePin.current()));
    }

    @Test
    void theReferenceLlamaCppIsFreeOfAmx() throws Exception {
        assertNoAmx(ReferenceMain.binaries());
    }

    @Test
    void theCpuDeviceOffersNoAmxBufferType() {
        List<String> types = BackendDevice.cpu().extraBufferTypes().stream().map(BufferType::name).toList();
        assertFalse(types.contains(BackendDevice.AMX_BUFFER_TYPE), "extra buffer types: " + types);
    }

    private static void assertNoAmx(Path libraries) throws Exception {
        Check check = check(libraries);
        assertEquals(0, check.exitCode(), check.output());
        assertTrue(check.output().startsWith("no AMX code in "), check.output());
    }

    record Check(int exitCode, String output) {
    }

    private static Check check(Path path) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(CHECK.toString(), path.toString()).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(2, TimeUnit.MINUTES), "check-no-amx did not finish");
        return new Check(process.exitValue(), output);
    }
}
