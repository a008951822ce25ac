package dev.panllama.placement;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The experts an {@link ExpertCache} ranks first, per layer, saved to a text file, to warm the cache
 * of a later run with: one line per cached layer, {@code layer: expert expert ...}, best first. Lines
 * starting with {@code #} are comments.
 */
public final class RoutingProfile {

    private RoutingProfile() {
    }

    /** Writes {@code cache}'s ranking to {@code file}, replacing it atomically (a new file, then a rename). */
    public static void save(ExpertCache cache, Path file) throws IOException {
        StringBuilder text = new StringBuilder("# panllama routing profile: per layer, the experts the cache ranked first, best first\n");
        int[] layers = cache.layers();
        int[][] ranking = cache.ranking();
        for (int i = 0; i < layers.length; i++) {
            text.append(layers[i]).append(':');
            for (int expert : ranking[i]) {
                text.append(' ').append(expert);
            }
            text.append('\n');
        }
        Path absolute = file.toAbsolutePath();
        Path temporary = Files.createTempFile(absolute.getParent(), absolute.getFileName().toString(), ".tmp");
        try {
            Files.writeString(temporary, text, StandardCharsets.UTF_8);
            Files.move(temporary, absolute, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(temporary);
        }
    }

    /** The experts per layer a profile file lists, by layer. */
    public static Map<Integer, int[]> read(Path file) throws IOException {
        Map<Integer, int[]> byLayer = new LinkedHashMap<>();
        int lineNumber = 0;
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            lineNumber++;
            String trimmed = line.trim();
            if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                continue;
            }
            int colon = trimmed.indexOf(':');
            try {
                if (colon < 0) {
                    throw new NumberFormatException("no ':'");
                }
                int layer = Integer.parseInt(trimmed.substring(0, colon).trim());
                String rest = trimmed.substring(colon + 1).trim();
                int[] experts = rest.isEmpty() ? new int[0]
                        : java.util.Arrays.stream(rest.split("\\s+")).mapToInt(Integer::parseInt).toArray();
                byLayer.put(layer, experts);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(file + ":" + lineNumber + ": not a routing profile line ('layer: expert ...'): " + line);
            }
        }
        return byLayer;
    }

    /** Warms {@code cache} with {@code profile}'s experts for each layer the cache holds; other layers are ignored. */
    public static void warm(ExpertCache cache, Map<Integer, int[]> profile) {
        profile.forEach((layer, experts) -> {
            if (cache.caches(layer)) {
                cache.warm(layer, experts);
            }
        });
        // Warmed at load, so that the first steps hit: the copies end before the model is used.
        cache.awaitCopies();
    }
}
