package dev.panllama.hub;

import dev.panllama.json.JsonReader;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Downloads GGUF files from the Hugging Face hub into a cache folder, as {@code --hf OWNER/REPO[:QUANT]}
 * asks: picks the repository's GGUF file of that quantization (Q4_K_M by default), downloads it with
 * progress, resumes an interrupted download from where it stopped, and checks the file's sha256
 * against the one the hub lists before it is used. The endpoint is {@code HF_ENDPOINT} when set.
 */
public final class HubDownloader {

    /** Told how far a download has come. */
    @FunctionalInterface
    public interface Progress {
        void update(long done, long total);

        Progress NONE = (done, total) -> { };
    }

    /** One GGUF file a repository lists. */
    record RemoteFile(String name, long size, String sha256) {
    }

    private static final String DEFAULT_QUANT = "Q4_K_M";

    private final URI endpoint;
    private final Path cache;
    private final HttpClient http;
    private final String token;

    public HubDownloader(URI endpoint, Path cache, String token) {
        this.endpoint = endpoint;
        this.cache = cache;
        this.token = token;
        this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30))
                .followRedirects(HttpClient.Redirect.NORMAL).build();
    }

    /** The hub of this environment: {@code HF_ENDPOINT} or huggingface.co, {@code HF_TOKEN} if set. */
    public static HubDownloader fromEnvironment(Path cache) {
        String endpoint = Objects.requireNonNullElse(System.getenv("HF_ENDPOINT"), "https://huggingface.co");
        return new HubDownloader(URI.create(endpoint.endsWith("/") ? endpoint : endpoint + "/"), cache, System.getenv("HF_TOKEN"));
    }

    /**
     * The local path of {@code OWNER/REPO[:QUANT]}'s GGUF file, downloaded first unless the cache
     * already holds it whole. For a split model, every part is fetched and the first one returned.
     */
    public Path fetch(String reference, Progress progress) throws IOException, InterruptedException {
        String[] parts = reference.split(":", 2);
        String repo = parts[0];
        if (!repo.matches("[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")) {
            throw new IllegalArgumentException("--hf needs OWNER/REPO[:QUANT], not " + reference);
        }
        String quant = parts.length > 1 && !parts[1].isEmpty() ? parts[1] : DEFAULT_QUANT;
        List<RemoteFile> files = pick(list(repo), quant, repo);
        Path first = null;
        for (RemoteFile file : files) {
            Path local = download(repo, file, progress);
            if (first == null) {
                first = local;
            }
        }
        return first;
    }

    /** The GGUF files of {@code repo}, with sizes and checksums, from the hub's model API. */
    List<RemoteFile> list(String repo) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(request("api/models/" + repo + "?blobs=true").build(),
                HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() == 404 || response.statusCode() == 401) {
            throw new IllegalArgumentException("the hub has no repository " + repo + " (or it needs HF_TOKEN)");
        }
        if (response.statusCode() != 200) {
            throw new IOException("the hub answered " + response.statusCode() + " for " + repo);
        }
        Object json = JsonReader.parse(response.body());
        if (!(json instanceof Map<?, ?> model) || !(model.get("siblings") instanceof List<?> siblings)) {
            throw new IOException("the hub's answer for " + repo + " lists no files");
        }
        List<RemoteFile> files = new java.util.ArrayList<>();
        for (Object sibling : siblings) {
            if (sibling instanceof Map<?, ?> entry && entry.get("rfilename") instanceof String name && name.endsWith(".gguf")) {
                Object lfs = entry.get("lfs");
                String sha = lfs instanceof Map<?, ?> l && l.get("sha256") instanceof String s ? s : null;
                long size = lfs instanceof Map<?, ?> l && l.get("size") instanceof Double d ? d.longValue()
                        : entry.get("size") instanceof Double d ? d.longValue() : -1;
                files.add(new RemoteFile(name, size, sha));
            }
        }
        return files;
    }

    /** The file (or the parts of the split model) whose name carries {@code quant}. */
    static List<RemoteFile> pick(List<RemoteFile> files, String quant, String repo) {
        String wanted = quant.toUpperCase(Locale.ROOT);
        List<RemoteFile> matching = files.stream()
                .filter(f -> f.name().toUpperCase(Locale.ROOT).matches(".*[-._]" + java.util.regex.Pattern.quote(wanted) + "([-._].*)?\\.GGUF"))
                .filter(f -> !f.name().toLowerCase(Locale.ROOT).contains("mmproj"))
                .sorted(java.util.Comparator.comparing(RemoteFile::name)).toList();
        if (matching.isEmpty()) {
            throw new IllegalArgumentException(repo + " has no " + quant + " GGUF file; it has: "
                    + String.join(", ", files.stream().map(RemoteFile::name).toList()));
        }
        RemoteFile first = matching.getFirst();
        if (first.name().matches(".*-00001-of-\\d{5}\\.gguf")) {
            String prefix = first.name().substring(0, first.name().length() - "00001-of-00000.gguf".length());
            return matching.stream().filter(f -> f.name().startsWith(prefix)).toList();
        }
        return List.of(first);
    }

    private Path download(String repo, RemoteFile file, Progress progress) throws IOException, InterruptedException {
        Path target = cache.resolve(repo).resolve(file.name()).normalize();
        if (!target.startsWith(cache.resolve(repo))) {
            throw new IOException("the hub named a file outside its repository: " + file.name());
        }
        if (Files.isRegularFile(target) && (file.size() < 0 || Files.size(target) == file.size())) {
            return target;
        }
        Files.createDirectories(target.getParent());
        Path partial = target.resolveSibling(target.getFileName() + ".partial");
        long have = Files.isRegularFile(partial) ? Files.size(partial) : 0;
        HttpRequest.Builder request = request(repo + "/resolve/main/" + file.name());
        if (have > 0) {
            request.header("Range", "bytes=" + have + "-");
        }
        HttpResponse<InputStream> response = http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
        int status = response.statusCode();
        if (status == 416 && file.size() >= 0 && have == file.size()) {
            response.body().close();
        } else {
            if (status != 200 && status != 206) {
                response.body().close();
                throw new IOException("downloading " + file.name() + ": the hub answered " + status);
            }
            boolean resumed = status == 206;
            if (!resumed) {
                have = 0;
            }
            long total = file.size() >= 0 ? file.size() : response.headers().firstValueAsLong("Content-Length").orElse(-1);
            try (InputStream in = response.body();
                 OutputStream out = Files.newOutputStream(partial, StandardOpenOption.CREATE,
                         resumed ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                byte[] buffer = new byte[1 << 16];
                int n;
                while ((n = in.read(buffer)) > 0) {
                    out.write(buffer, 0, n);
                    have += n;
                    progress.update(have, total);
                }
            }
        }
        if (file.sha256() != null) {
            String actual = sha256(partial);
            if (!actual.equalsIgnoreCase(file.sha256())) {
                Files.delete(partial);
                throw new IOException(file.name() + " does not match the hub's checksum (sha256 " + actual + ", expected "
                        + file.sha256() + "); the partial download was removed, run the command again");
            }
        }
        Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        return target;
    }

    private HttpRequest.Builder request(String path) {
        HttpRequest.Builder builder = HttpRequest.newBuilder(endpoint.resolve(path)).timeout(Duration.ofMinutes(30))
                .header("User-Agent", "panllama");
        if (token != null && !token.isBlank()) {
            builder.header("Authorization", "Bearer " + token);
        }
        return builder;
    }

    private static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            int n;
            while ((n = in.read(buffer)) > 0) {
                digest.update(buffer, 0, n);
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
