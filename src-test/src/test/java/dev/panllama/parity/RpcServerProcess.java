package dev.panllama.parity;

import dev.panllama.reference.ReferenceMain;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The reference build's rpc-server, started on 127.0.0.1 at a free port for a test: a second ggml
 * device with buffers of its own (it computes on the CPU). Closing stops it.
 */
public final class RpcServerProcess implements AutoCloseable {

    private final Process process;
    private final String endpoint;
    private final Path log;

    private RpcServerProcess(Process process, String endpoint, Path log) {
        this.process = process;
        this.endpoint = endpoint;
        this.log = log;
    }

    /** Starts a server with {@code threads} threads, its output in {@code log}, and waits until it listens. */
    public static RpcServerProcess start(Path log, int threads) throws IOException, InterruptedException {
        Path executable = ReferenceMain.binaries().resolve("ggml-rpc-server");
        assertTrue(Files.isExecutable(executable), executable + " is missing: run scripts/build-native --reference");
        int port = freePort();
        Process process = new ProcessBuilder(executable.toString(), "-H", "127.0.0.1", "-p", String.valueOf(port), "-t", String.valueOf(threads))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        RpcServerProcess server = new RpcServerProcess(process, "127.0.0.1:" + port, log);
        server.awaitListening(port);
        return server;
    }

    private static final List<RpcServerProcess> shared = new ArrayList<>();

    /**
     * The server the test classes of this JVM share, started on first use and stopped when the JVM
     * exits. Shared because ggml keeps every RPC device a process connects to registered for good, and
     * asks it questions (its memory) whenever devices are listed: a server stopped after one test class
     * would make ggml abort in a later one.
     */
    static RpcServerProcess shared() throws IOException, InterruptedException {
        return shared(0);
    }

    /** The {@code index}th of the servers the test classes of this JVM share (see {@link #shared()}): a second device, a third. */
    static synchronized RpcServerProcess shared(int index) throws IOException, InterruptedException {
        while (shared.size() <= index) {
            Path log = Files.createTempFile("panllama-rpc-server", ".log");
            RpcServerProcess started = start(log, 2);
            Runtime.getRuntime().addShutdownHook(new Thread(started.process::destroyForcibly));
            shared.add(started);
        }
        return shared.get(index);
    }

    /** {@code HOST:PORT}, as {@code --rpc} takes it. */
    public String endpoint() {
        return endpoint;
    }

    /** The server's device 0 buffer type as ggml names it, as {@code -ot} takes it. */
    public String buffer() {
        return "RPC0[" + endpoint + "]";
    }

    /** Kills the server at once, as a crash or a pulled cable would. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
    }

    public static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    /** Waits until the server accepts connections (a bare connect and close, which it shrugs off). */
    private void awaitListening(int port) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            assertTrue(process.isAlive(), "rpc-server exited: see " + log);
            try (Socket probe = new Socket()) {
                probe.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return;
            } catch (IOException notYet) {
                Thread.sleep(100);
            }
        }
        throw new AssertionError("rpc-server did not listen on " + port + " within 30 s");
    }
}
