package dev.panllama.bindings;

import dev.panllama.bindings.ggml.Ggml;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * Finds the ggml libraries and loads them into this process, once. The search order:
 * <ol>
 *   <li>the folder named by the system property {@value #DIR_PROPERTY},</li>
 *   <li>else by the environment variable {@value #DIR_ENV},</li>
 *   <li>else the build cache that {@code scripts/build-native} fills (see {@link UserCache}),</li>
 *   <li>else the libraries packed in the jar under {@code /native/<platform>/}, unpacked once per pin
 *       and content into the user cache.</li>
 * </ol>
 * An explicit folder that lacks the libraries is an error, not a reason to look elsewhere.
 */
public final class NativeLibraries {

    public static final String DIR_PROPERTY = "panllama.native.dir";
    public static final String DIR_ENV = "PANLLAMA_NATIVE_DIR";
    /** Lists the packed files, one {@code <sha256> <name>} a line, beside them in the jar. */
    static final String JAR_INDEX = "index.txt";
    private static final String BUILD_COMMAND = "scripts/build-native";

    private static LoadedLibraries loaded;

    private NativeLibraries() {
    }

    /** Loads the libraries if this process has not yet, and says from where. */
    public static synchronized LoadedLibraries load() {
        if (loaded == null) {
            loaded = loadFrom(locate(System.getProperty(DIR_PROPERTY), System.getenv(DIR_ENV), UserCache.user()));
        }
        return loaded;
    }

    /** The platform folder name used in the jar and the build cache, e.g. {@code linux-x86_64}. */
    public static String platform() {
        String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        String osName = os.startsWith("mac") ? "macos" : os.startsWith("windows") ? "windows" : os.replace(' ', '-');
        String archName = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return osName + "-" + archName;
    }

    /** The file name of a linked ggml library under its SONAME, e.g. {@code libggml-base.so.0}. */
    static String sharedLibraryName(String name) {
        return platform().startsWith("macos") ? "lib" + name + ".0.dylib" : "lib" + name + ".so.0";
    }

    private static String moduleSuffix() {
        return platform().startsWith("macos") ? ".dylib" : ".so";
    }

    record Candidate(Path directory, LoadedLibraries.Origin origin) {
    }

    /** Applies the search order to the given property and environment values and cache. */
    static Candidate locate(String property, String environment, UserCache cache) {
        NativePin pin = NativePin.current();
        String library = sharedLibraryName("ggml");
        List<String> looked = new ArrayList<>();

        if (property != null && !property.isBlank()) {
            return explicit(Path.of(property), LoadedLibraries.Origin.SYSTEM_PROPERTY, library);
        }
        looked.add("-D" + DIR_PROPERTY + " (not set)");
        if (environment != null && !environment.isBlank()) {
            return explicit(Path.of(environment), LoadedLibraries.Origin.ENVIRONMENT, library);
        }
        looked.add(DIR_ENV + " (not set)");

        Path cached = cache.hostLibraries(pin);
        if (Files.isRegularFile(cached.resolve(library))) {
            return new Candidate(cached, LoadedLibraries.Origin.BUILD_CACHE);
        }
        looked.add(cached.toString());

        String resources = "/native/" + platform() + "/";
        Path extracted = extractFromJar(resources, hash -> cache.extractedLibraries(pin, hash));
        if (extracted != null) {
            return new Candidate(extracted, LoadedLibraries.Origin.JAR);
        }
        looked.add("jar resources " + resources + " (absent)");

        throw new NativeLibraryException(library + " (ggml " + pin.packageName() + "@" + pin.version()
                + ") not found; looked in: " + String.join(", ", looked)
                + ". Build it with: " + BUILD_COMMAND);
    }

    private static Candidate explicit(Path directory, LoadedLibraries.Origin origin, String library) {
        if (!Files.isRegularFile(directory.resolve(library))) {
            throw new NativeLibraryException(origin.description() + " names " + directory + ", which has no "
                    + library + "; point it at a folder that " + BUILD_COMMAND + " filled, or unset it");
        }
        return new Candidate(directory.toAbsolutePath(), origin);
    }

    private static LoadedLibraries loadFrom(Candidate candidate) {
        Path directory = candidate.directory();
        GgmlDefaults.apply();
        // The base first, then libggml, whose RUNPATH ($ORIGIN) brings in any linked backends.
        for (String name : List.of("ggml-base", "ggml")) {
            Path file = directory.resolve(sharedLibraryName(name));
            try {
                System.load(file.toAbsolutePath().toString());
            } catch (UnsatisfiedLinkError e) {
                throw new NativeLibraryException("cannot load " + file + " (found through "
                        + candidate.origin().description() + "): " + e.getMessage()
                        + ". Rebuild it with: " + BUILD_COMMAND, e);
            }
        }
        GgmlLog.install();
        boolean modular = hasBackendModules(directory);
        if (modular) {
            try (Arena arena = Arena.ofConfined()) {
                Ggml.ggml_backend_load_all_from_path(arena.allocateFrom(directory.toString()));
            }
        }
        return new LoadedLibraries(directory, candidate.origin(), modular);
    }

    private static boolean hasBackendModules(Path directory) {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory, "libggml-*" + moduleSuffix())) {
            return files.iterator().hasNext();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + directory, e);
        }
    }

    /**
     * Unpacks the libraries packed under {@code resources} into the folder that {@code targetForHash}
     * names for the hash of their index, unless an earlier run already did; null when the jar has none.
     */
    static Path extractFromJar(String resources, Function<String, Path> targetForHash) {
        byte[] index;
        try (InputStream in = NativeLibraries.class.getResourceAsStream(resources + JAR_INDEX)) {
            if (in == null) {
                return null;
            }
            index = in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resources + JAR_INDEX + " from the jar", e);
        }
        Path target = targetForHash.apply(sha256(index).substring(0, 16));
        if (Files.isDirectory(target)) {
            return target;
        }
        try {
            Files.createDirectories(target.getParent());
            Path staging = Files.createTempDirectory(target.getParent(), ".unpacking-");
            for (String line : new String(index, StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank()) {
                    continue;
                }
                String[] fields = line.trim().split("\\s+", 2);
                byte[] content;
                try (InputStream in = NativeLibraries.class.getResourceAsStream(resources + fields[1])) {
                    if (in == null) {
                        throw new NativeLibraryException("the jar lists " + resources + fields[1] + " but lacks it; rebuild the jar");
                    }
                    content = in.readAllBytes();
                }
                if (!sha256(content).equals(fields[0])) {
                    throw new NativeLibraryException("the jar's " + resources + fields[1] + " does not match its checksum; rebuild the jar");
                }
                Files.write(staging.resolve(fields[1]), content);
            }
            try {
                Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException | DirectoryNotEmptyException raced) {
                // Another process unpacked the same content first; theirs is as good as ours.
                deleteTree(staging);
            }
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot unpack the native libraries into " + target, e);
        }
    }

    private static void deleteTree(Path directory) throws IOException {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory)) {
            for (Path file : files) {
                Files.delete(file);
            }
        }
        Files.delete(directory);
    }

    static String sha256(byte[] content) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
