package dev.panllama.server;

import java.net.URI;
import java.util.List;
import java.util.Locale;

/**
 * Which web pages of other origins may call the server from a browser ({@code --cors-origins}, llama.cpp's
 * option): none by default, so that a page the user visits cannot use a model running on their machine
 * (llama-server allows every origin unless told otherwise, and warns about it); {@code localhost} for pages
 * served from this machine, {@code *} for any, or a list of origins as browsers send them
 * ({@code https://app.example:8443}). An allowed origin gets {@code Access-Control-Allow-Origin} on every
 * reply, and its preflight requests are answered without the API key, which browsers leave out of them.
 *
 * @param origins the allowed origins, {@code localhost} or {@code *}; empty for none
 */
record CorsPolicy(List<String> origins) {

    /** The methods the server's endpoints take. */
    static final String METHODS = "GET, POST, OPTIONS";

    CorsPolicy {
        origins = List.copyOf(origins);
        for (String origin : origins) {
            if (!origin.equals("*") && !origin.equals("localhost") && !isOrigin(origin)) {
                throw new IllegalArgumentException("--cors-origins takes origins such as https://app.example:8443, localhost or *,"
                        + " not '" + origin + "'");
            }
        }
    }

    /**
     * The {@code Access-Control-Allow-Origin} for a request from {@code origin} (null when it sent none):
     * {@code *} where any may, the origin itself where it is allowed, null where it is not.
     */
    String allowOrigin(String origin) {
        if (origins.contains("*")) {
            return "*";
        }
        if (origin == null) {
            return null;
        }
        if (origins.contains(origin) || origins.contains("localhost") && isLocalhost(origin)) {
            return origin;
        }
        return null;
    }

    /** {@code scheme://host[:port]}, as a browser's Origin header writes it. */
    private static boolean isOrigin(String text) {
        try {
            URI uri = new URI(text);
            return uri.getScheme() != null && uri.getHost() != null && (uri.getPath() == null || uri.getPath().isEmpty())
                    && uri.getQuery() == null && uri.getFragment() == null && uri.getUserInfo() == null;
        } catch (java.net.URISyntaxException e) {
            return false;
        }
    }

    /** A page served from this machine: http or https on localhost, 127.0.0.1 or [::1], any port. */
    private static boolean isLocalhost(String origin) {
        if (!isOrigin(origin)) {
            return false;
        }
        URI uri = URI.create(origin);
        String scheme = uri.getScheme().toLowerCase(Locale.ROOT);
        String host = uri.getHost().toLowerCase(Locale.ROOT);
        return (scheme.equals("http") || scheme.equals("https"))
                && (host.equals("localhost") || host.equals("127.0.0.1") || host.equals("[::1]"));
    }
}
