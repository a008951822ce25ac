package dev.panllama.placement;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * Whether and how a model keeps hot experts in device memory ({@link ExpertCache}).
 *
 * @param enabled whether there is a cache
 * @param bytes   the device memory it takes ({@code --expert-cache SIZE}); 0 with {@code enabled} for
 *                {@code auto}: what the placement leaves free on the first device
 * @param policy  how it chooses the experts to hold
 * @param profile a routing profile to warm the cache from when the model opens (if the file exists) and
 *                to save the cache's ranking to when it closes ({@code --expert-cache-profile})
 */
public record ExpertCacheOptions(boolean enabled, long bytes, ExpertPolicy policy, Optional<Path> profile) {

    /** The default policy: see the README's figures for why. */
    public static final ExpertPolicy DEFAULT_POLICY = ExpertPolicy.LFU_DECAY;

    /** No cache. */
    public static final ExpertCacheOptions OFF = new ExpertCacheOptions(false, 0, DEFAULT_POLICY, Optional.empty());

    public ExpertCacheOptions {
        if (bytes < 0) {
            throw new IllegalArgumentException("--expert-cache must be a size or auto, not " + bytes + " bytes");
        }
        if (policy == null || profile == null) {
            throw new IllegalArgumentException("an expert cache needs a policy and an optional profile");
        }
    }

    /** {@code --expert-cache SIZE|auto} (e.g. {@code 4GiB}): a cache of that many bytes, or of what the placement leaves. */
    public static ExpertCacheOptions parse(String sizeOrAuto) {
        if (sizeOrAuto.trim().toLowerCase(Locale.ROOT).equals("auto")) {
            return new ExpertCacheOptions(true, 0, DEFAULT_POLICY, Optional.empty());
        }
        long bytes = FitOptions.parseSize(sizeOrAuto.trim(), "--expert-cache");
        if (bytes == 0) {
            throw new IllegalArgumentException("--expert-cache must be a positive size or auto, not " + sizeOrAuto);
        }
        return new ExpertCacheOptions(true, bytes, DEFAULT_POLICY, Optional.empty());
    }

    /** Whether the size is left to what the placement leaves free. */
    public boolean auto() {
        return enabled && bytes == 0;
    }

    public ExpertCacheOptions withPolicy(ExpertPolicy value) {
        return new ExpertCacheOptions(enabled, bytes, value, profile);
    }

    public ExpertCacheOptions withProfile(Path value) {
        return new ExpertCacheOptions(enabled, bytes, policy, Optional.ofNullable(value));
    }
}
