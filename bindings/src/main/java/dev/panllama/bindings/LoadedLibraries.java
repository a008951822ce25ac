package dev.panllama.bindings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The ggml libraries in this process: the folder they came from and how panllama found it.
 *
 * @param directory  the folder holding the libraries (and any backend modules)
 * @param origin     which place in the search order supplied it
 * @param modular    whether backends were loaded as modules at run time (portable builds), rather than
 *                   linked into libggml (builds tuned for one machine)
 */
public record LoadedLibraries(Path directory, Origin origin, boolean modular) {

    /** The file in which scripts/build-native records what a build was made from, fixes included. */
    static final String BUILD_STAMP = ".panllama-stamp";
    /** How that record names the fix of ggml's AMX kernels. */
    static final String AMX_FIX = "amx-tile-config";

    /**
     * The CPU backend's library mapped into this process, e.g. {@code libggml-cpu-zen4.so} (the
     * variant ggml chose for this CPU from a portable build) or {@code libggml-cpu.so.0} (a build tuned
     * for this machine); empty where the process map cannot be read (not Linux).
     */
    public Optional<Path> cpuLibrary() {
        Path maps = Path.of("/proc/self/maps");
        if (!Files.isReadable(maps)) {
            return Optional.empty();
        }
        try (var lines = Files.lines(maps)) {
            // Each line ends with the mapped file's path, when the mapping has one.
            return lines.map(line -> line.substring(line.lastIndexOf(' ') + 1))
                    .filter(path -> path.startsWith("/"))
                    .map(Path::of)
                    .filter(path -> path.getFileName().toString().startsWith("libggml-cpu"))
                    .findFirst();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /**
     * Whether ggml's AMX kernels in these libraries may run: at this pin they crash when GCC builds
     * them unless the tree carries panllama's fix (scripts/lib.sh, {@code fix_source}). The jar's
     * libraries were built with it; a folder {@code scripts/build-native} filled says so in its stamp.
     * Libraries built otherwise may lack it, so their AMX buffer type is left unused.
     */
    public boolean amxKernelsFixed() {
        if (origin == Origin.JAR) {
            return true;
        }
        Path stamp = directory.resolve(BUILD_STAMP);
        try {
            return Files.isRegularFile(stamp) && Files.readString(stamp).contains(AMX_FIX);
        } catch (IOException e) {
            return false;
        }
    }

    /** The CPU variant a CPU backend library is: {@code zen4} for {@code libggml-cpu-zen4.so}, {@code native} for a tuned build's. */
    public static String cpuVariant(Path cpuLibrary) {
        String name = cpuLibrary.getFileName().toString();
        return name.startsWith("libggml-cpu-") ? name.substring("libggml-cpu-".length(), name.indexOf('.')) : "native";
    }

    /** The places searched, in order. */
    public enum Origin {
        SYSTEM_PROPERTY("-D" + NativeLibraries.DIR_PROPERTY),
        ENVIRONMENT(NativeLibraries.DIR_ENV),
        BUILD_CACHE("the build cache"),
        JAR("the panllama jar");

        private final String description;

        Origin(String description) {
            this.description = description;
        }

        public String description() {
            return description;
        }
    }
}
