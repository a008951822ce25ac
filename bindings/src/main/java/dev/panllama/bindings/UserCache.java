package dev.panllama.bindings;

import java.nio.file.Path;

/**
 * Where panllama keeps what it builds or unpacks outside the repository: {@code $PANLLAMA_CACHE},
 * else {@code $XDG_CACHE_HOME/panllama}, else {@code ~/.cache/panllama}. The layout is the one
 * {@code scripts/build-native} writes; keep the two in step.
 */
public record UserCache(Path root) {

    /** The cache of this user and environment. */
    public static UserCache user() {
        String explicit = System.getenv("PANLLAMA_CACHE");
        if (explicit != null && !explicit.isBlank()) {
            return new UserCache(Path.of(explicit));
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return new UserCache(base.resolve("panllama"));
    }

    private Path pinned(NativePin pin) {
        return root.resolve("ggml").resolve(pin.version());
    }

    /** The unpacked llama.cpp tree of the pin. */
    public Path source(NativePin pin) {
        return pinned(pin).resolve("source");
    }

    /** The pinned tree's tokenizer vocabularies and test vectors ({@code models/ggml-vocab-*.gguf}). */
    public Path vocabularies(NativePin pin) {
        return source(pin).resolve("models");
    }

    /** The ggml libraries last built for this machine ({@code scripts/build-native}). */
    public Path hostLibraries(NativePin pin) {
        return pinned(pin).resolve("host");
    }

    /** The llama.cpp reference build's binaries and libllama ({@code scripts/build-native --reference}). */
    public Path referenceBinaries(NativePin pin) {
        return pinned(pin).resolve("reference").resolve("bin");
    }

    /** Where libraries packed in the jar are unpacked, one folder per pin and content. */
    public Path extractedLibraries(NativePin pin, String contentHash) {
        return root.resolve("native").resolve(pin.version() + "-" + contentHash);
    }
}
