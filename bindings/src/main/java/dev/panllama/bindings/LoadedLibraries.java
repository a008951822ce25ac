package dev.panllama.bindings;

import java.nio.file.Path;

/**
 * The ggml libraries in this process: the folder they came from and how panllama found it.
 *
 * @param directory  the folder holding the libraries (and any backend modules)
 * @param origin     which place in the search order supplied it
 * @param modular    whether backends were loaded as modules at run time (portable builds), rather than
 *                   linked into libggml (builds tuned for one machine)
 */
public record LoadedLibraries(Path directory, Origin origin, boolean modular) {

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
