package dev.panllama.bindings;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * The pinned ggml source these bindings were generated from: the npm package that carries the
 * llama.cpp tree, its exact version and its sha512 integrity ({@code native/ggml.lock}, copied into
 * the jar at build time).
 */
public record NativePin(String packageName, String version, String integrity) {

    private static final String RESOURCE = "ggml.lock";

    public NativePin {
        if (packageName.isBlank() || version.isBlank() || !integrity.startsWith("sha512-")) {
            throw new IllegalArgumentException("a pin needs a package, a version and a sha512 integrity");
        }
    }

    /** The pin this build of panllama carries. */
    public static NativePin current() {
        try (InputStream in = NativePin.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(RESOURCE + " is missing from the panllama-bindings jar");
            }
            Properties lock = new Properties();
            lock.load(in);
            return new NativePin(
                    lock.getProperty("package", ""), lock.getProperty("version", ""), lock.getProperty("integrity", ""));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
    }
}
