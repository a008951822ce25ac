package dev.panllama.bindings;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NativeLibrariesTest {

    @TempDir
    Path temp;

    @Test
    void explicitFolderWithoutLibrariesIsAnErrorNamingTheFolderAndTheFix() throws IOException {
        Path empty = Files.createDirectory(temp.resolve("empty"));
        var error = assertThrows(NativeLibraryException.class,
                () -> NativeLibraries.locate(empty.toString(), null, new UserCache(temp.resolve("cache"))));
        assertTrue(error.getMessage().contains(empty.toString()), error.getMessage());
        assertTrue(error.getMessage().contains("-D" + NativeLibraries.DIR_PROPERTY), error.getMessage());
        assertTrue(error.getMessage().contains("scripts/build-native"), error.getMessage());
    }

    @Test
    void amxKernelsCountAsFixedInTheJarAndWhereABuildStampNamesTheFix() throws IOException {
        Path stamped = Files.createDirectory(temp.resolve("stamped"));
        Files.writeString(stamped.resolve(LoadedLibraries.BUILD_STAMP), "sha512-x fixes: " + LoadedLibraries.AMX_FIX + " -DGGML_NATIVE=ON ggml\n");
        Path olderBuild = Files.createDirectory(temp.resolve("older"));
        Files.writeString(olderBuild.resolve(LoadedLibraries.BUILD_STAMP), "sha512-x -DGGML_NATIVE=ON ggml\n");
        Path elsewhere = Files.createDirectory(temp.resolve("elsewhere"));

        assertTrue(new LoadedLibraries(stamped, LoadedLibraries.Origin.ENVIRONMENT, false).amxKernelsFixed());
        assertTrue(new LoadedLibraries(elsewhere, LoadedLibraries.Origin.JAR, true).amxKernelsFixed());
        assertFalse(new LoadedLibraries(olderBuild, LoadedLibraries.Origin.BUILD_CACHE, false).amxKernelsFixed());
        assertFalse(new LoadedLibraries(elsewhere, LoadedLibraries.Origin.SYSTEM_PROPERTY, false).amxKernelsFixed());
    }

    @Test
    void propertyWinsOverEnvironmentAndCache() throws IOException {
        Path byProperty = Files.createDirectory(temp.resolve("property"));
        Files.writeString(byProperty.resolve(NativeLibraries.sharedLibraryName("ggml")), "");
        var found = NativeLibraries.locate(byProperty.toString(), temp.resolve("nowhere").toString(),
                new UserCache(temp.resolve("cache")));
        assertEquals(byProperty.toAbsolutePath(), found.directory());
        assertEquals(LoadedLibraries.Origin.SYSTEM_PROPERTY, found.origin());
    }

    @Test
    void nothingAnywhereListsEveryPlaceLookedIn() {
        UserCache emptyCache = new UserCache(temp.resolve("cache"));
        var error = assertThrows(NativeLibraryException.class, () -> NativeLibraries.locate(null, null, emptyCache));
        String message = error.getMessage();
        assertTrue(message.contains(NativeLibraries.sharedLibraryName("ggml")), message);
        assertTrue(message.contains(emptyCache.hostLibraries(NativePin.current()).toString()), message);
        assertTrue(message.contains(NativeLibraries.DIR_ENV), message);
        assertTrue(message.contains("jar resources"), message);
        assertTrue(message.contains("scripts/build-native"), message);
    }

    @Test
    void buildCacheIsFoundWithoutAnySetting() throws IOException {
        UserCache cache = new UserCache(temp.resolve("cache"));
        Path host = Files.createDirectories(cache.hostLibraries(NativePin.current()));
        Files.writeString(host.resolve(NativeLibraries.sharedLibraryName("ggml")), "");
        var found = NativeLibraries.locate(null, "", cache);
        assertEquals(host, found.directory());
        assertEquals(LoadedLibraries.Origin.BUILD_CACHE, found.origin());
    }

    @Test
    void packedLibrariesAreUnpackedOnceAndChecked() throws IOException {
        Path first = NativeLibraries.extractFromJar("/packed/good/", hash -> temp.resolve("unpacked-" + hash));
        assertNotNull(first);
        assertEquals("not a real library\n", Files.readString(first.resolve("libggml-example.so")));
        assertEquals("second file\n", Files.readString(first.resolve("libggml-other.so.0")));

        // A second start finds the unpacked copy and writes nothing.
        Files.writeString(first.resolve("marker"), "kept");
        Path second = NativeLibraries.extractFromJar("/packed/good/", hash -> temp.resolve("unpacked-" + hash));
        assertEquals(first, second);
        assertTrue(Files.exists(second.resolve("marker")));
    }

    @Test
    void packedLibraryThatFailsItsChecksumIsRefused() {
        var error = assertThrows(NativeLibraryException.class,
                () -> NativeLibraries.extractFromJar("/packed/corrupt/", hash -> temp.resolve("bad-" + hash)));
        assertTrue(error.getMessage().contains("libggml-example.so"), error.getMessage());
        try (var left = Files.list(temp)) {
            assertFalse(left.anyMatch(p -> p.getFileName().toString().startsWith("bad-")));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void jarWithoutLibrariesForThisPlatformIsNoMatch() {
        assertNull(NativeLibraries.extractFromJar("/packed/none/", hash -> temp.resolve("x-" + hash)));
    }
}
