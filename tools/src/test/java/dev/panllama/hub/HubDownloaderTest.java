package dev.panllama.hub;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Downloads from a loopback server that answers the way the Hugging Face hub does. */
class HubDownloaderTest {

    @TempDir
    Path cache;

    private HttpServer server;
    private final byte[] model = new byte[300_000];
    private String advertisedSha;
    /** When positive, the next full download stops after this many bytes, as a dropped connection does. */
    private final AtomicInteger cutAfter = new AtomicInteger();
    private final List<String> ranges = new ArrayList<>();
    private final AtomicInteger downloads = new AtomicInteger();

    @BeforeEach
    void startHub() throws Exception {
        new Random(1).nextBytes(model);
        advertisedSha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(model));
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/api/models/owner/repo", this::api);
        server.createContext("/owner/repo/resolve/main/", this::file);
        server.start();
    }

    @AfterEach
    void stopHub() {
        server.stop(0);
    }

    private HubDownloader downloader() {
        return new HubDownloader(URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/"), cache, null);
    }

    private void api(HttpExchange exchange) throws IOException {
        String body = "{\"id\":\"owner/repo\",\"siblings\":["
                + "{\"rfilename\":\"README.md\"},"
                + "{\"rfilename\":\"model-Q8_0.gguf\",\"size\":10,\"lfs\":{\"sha256\":\"00\",\"size\":10}},"
                + "{\"rfilename\":\"model-Q4_K_M.gguf\",\"lfs\":{\"sha256\":\"" + advertisedSha + "\",\"size\":" + model.length + "}}]}";
        byte[] bytes = body.getBytes();
        exchange.sendResponseHeaders(200, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    private void file(HttpExchange exchange) throws IOException {
        downloads.incrementAndGet();
        String range = exchange.getRequestHeaders().getFirst("Range");
        ranges.add(String.valueOf(range));
        int from = range == null ? 0 : Integer.parseInt(range.substring("bytes=".length(), range.length() - 1));
        int cut = cutAfter.getAndSet(0);
        exchange.getResponseHeaders().add("Accept-Ranges", "bytes");
        if (range != null) {
            exchange.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + (model.length - 1) + "/" + model.length);
        }
        exchange.sendResponseHeaders(range == null ? 200 : 206, model.length - from);
        try (OutputStream out = exchange.getResponseBody()) {
            if (cut > 0) {
                out.write(model, from, cut);
                out.flush();
                throw new IOException("dropping the connection on purpose");
            }
            out.write(model, from, model.length - from);
        }
    }

    @Test
    void downloadsTheDefaultQuantizationOnceAndChecksIt() throws Exception {
        List<Long> progress = new ArrayList<>();
        Path path = downloader().fetch("owner/repo", (done, total) -> progress.add(done));
        assertEquals(cache.resolve("owner/repo/model-Q4_K_M.gguf"), path);
        assertArrayEquals(model, Files.readAllBytes(path));
        assertEquals(model.length, progress.getLast());
        downloader().fetch("owner/repo:q4_k_m", HubDownloader.Progress.NONE);
        assertEquals(1, downloads.get(), "the second fetch uses the cached file");
    }

    @Test
    void anInterruptedDownloadResumesWhereItStopped() throws Exception {
        cutAfter.set(100_000);
        assertThrows(IOException.class, () -> downloader().fetch("owner/repo", HubDownloader.Progress.NONE));
        Path partial = cache.resolve("owner/repo/model-Q4_K_M.gguf.partial");
        assertTrue(Files.size(partial) > 0 && Files.size(partial) < model.length, "a partial file stays");
        assertFalse(Files.exists(cache.resolve("owner/repo/model-Q4_K_M.gguf")));

        Path path = downloader().fetch("owner/repo", HubDownloader.Progress.NONE);
        assertArrayEquals(model, Files.readAllBytes(path));
        assertTrue(ranges.getLast().startsWith("bytes="), "the second request resumed: " + ranges);
        assertFalse(Files.exists(partial));
    }

    @Test
    void aFileThatFailsItsChecksumIsRemoved() {
        advertisedSha = "ab".repeat(32);
        IOException error = assertThrows(IOException.class, () -> downloader().fetch("owner/repo", HubDownloader.Progress.NONE));
        assertTrue(error.getMessage().contains("checksum"), error.getMessage());
        assertFalse(Files.exists(cache.resolve("owner/repo/model-Q4_K_M.gguf")));
        assertFalse(Files.exists(cache.resolve("owner/repo/model-Q4_K_M.gguf.partial")));
    }

    @Test
    void unknownQuantizationListsWhatTheRepositoryHas() {
        var error = assertThrows(IllegalArgumentException.class, () -> downloader().fetch("owner/repo:IQ2_XS", HubDownloader.Progress.NONE));
        assertTrue(error.getMessage().contains("model-Q8_0.gguf"), error.getMessage());
        assertThrows(IllegalArgumentException.class, () -> downloader().fetch("not a repo", HubDownloader.Progress.NONE));
        assertThrows(IllegalArgumentException.class, () -> downloader().fetch("owner/absent", HubDownloader.Progress.NONE));
    }

    @Test
    void splitModelsArePickedWhole() {
        List<HubDownloader.RemoteFile> files = List.of(
                new HubDownloader.RemoteFile("big-Q4_K_M-00002-of-00002.gguf", 1, null),
                new HubDownloader.RemoteFile("big-Q4_K_M-00001-of-00002.gguf", 1, null),
                new HubDownloader.RemoteFile("big-Q8_0-00001-of-00002.gguf", 1, null));
        assertEquals(List.of("big-Q4_K_M-00001-of-00002.gguf", "big-Q4_K_M-00002-of-00002.gguf"),
                HubDownloader.pick(files, "Q4_K_M", "o/r").stream().map(HubDownloader.RemoteFile::name).toList());
    }
}
