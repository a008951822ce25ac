package dev.panllama.parity;

import dev.panllama.reference.ReferenceMain;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
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
