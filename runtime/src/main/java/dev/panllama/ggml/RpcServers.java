package dev.panllama.ggml;

import dev.panllama.bindings.NativeLibraries;
import dev.panllama.bindings.ggml.Ggml;
import dev.panllama.bindings.ggml.ggml_abort_callback_t;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The devices of ggml's RPC backend: other machines' (or other processes') devices, served by
 * llama.cpp's {@code rpc-server}, used as if they were local ones. Adding a server registers its
 * devices with ggml for the life of the process, as llama.cpp's {@code --rpc} does.
 *
 * <p>ggml aborts the process when it cannot connect to a server or the handshake fails, so each
 * endpoint is first checked here, in Java: a TCP connection with a time limit and the RPC hello,
 * whose answer must name the protocol version this ggml speaks. Only then is it handed to ggml.
 *
 * <p>A server that dies or answers nonsense later, in the middle of a computation, makes ggml abort
 * the process too, and nothing can be done then but end it: ggml calls {@code abort()} as soon as
 * its abort callback returns. So once a server is in use, that callback prints one line saying what
 * happened and ends the process with exit code {@value #EXIT_CODE_ABORTED}, instead of the JVM crashing
 * on SIGABRT with a core dump and an error report.
 */
public final class RpcServers {

    /** ggml-rpc.h's RPC_PROTO_MAJOR_VERSION and _MINOR_VERSION at the pinned ggml. */
    static final int PROTOCOL_MAJOR = 7;
    static final int PROTOCOL_MINOR = 0;
    /** ggml-rpc.cpp's RPC_CMD_HELLO (fixed at 14 across versions) and the size of its conn_caps. */
    private static final byte COMMAND_HELLO = 14;
    private static final int CONNECTION_CAPS = 24;

    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration REPLY_TIMEOUT = Duration.ofSeconds(10);

    /** The exit code of a process ended by ggml's abort while RPC servers are in use. */
    public static final int EXIT_CODE_ABORTED = 70;

    /** Endpoints already registered with ggml, and their devices: ggml must see each only once. */
    private static final Map<String, List<BackendDevice>> REGISTERED = new LinkedHashMap<>();

    private RpcServers() {
    }

    /** Whether the loaded ggml has the RPC backend. */
    public static boolean available() {
        NativeLibraries.load();
        return !registry().equals(MemorySegment.NULL);
    }

    /**
     * The devices of the servers at {@code endpoints} ({@code HOST:PORT} each), registered with ggml
     * on first use and named by it {@code RPC0}, {@code RPC1}, ... in order.
     *
     * @throws IllegalArgumentException for an endpoint that is not {@code HOST:PORT}
     * @throws RpcException             when ggml has no RPC backend or a server cannot be used
     */
    public static synchronized List<BackendDevice> connect(List<String> endpoints) {
        List<BackendDevice> devices = new ArrayList<>();
        for (String endpoint : endpoints) {
            devices.addAll(connect(endpoint));
        }
        return devices;
    }

    private static List<BackendDevice> connect(String endpoint) {
        List<BackendDevice> known = REGISTERED.get(endpoint);
        if (known != null) {
            return known;
        }
        Endpoint parsed = Endpoint.parse(endpoint);
        if (!available()) {
            throw new RpcException("this build of ggml has no RPC backend, so --rpc " + endpoint
                    + " cannot be used (scripts/build-native builds one with it)");
        }
        checkServer(parsed);
        MemorySegment addServer;
        try (Arena scratch = Arena.ofConfined()) {
            addServer = Ggml.ggml_backend_reg_get_proc_address(registry(), scratch.allocateFrom("ggml_backend_rpc_add_server"));
        }
        if (addServer.equals(MemorySegment.NULL)) {
            throw new RpcException("ggml's RPC backend does not offer ggml_backend_rpc_add_server");
        }
        MemorySegment serverRegistry;
        try (Arena scratch = Arena.ofConfined()) {
            serverRegistry = (MemorySegment) ADD_SERVER.invokeExact(addServer, scratch.allocateFrom(endpoint));
        } catch (Throwable e) {
            throw new RpcException("ggml could not add the RPC server " + endpoint + ": " + e.getMessage());
        }
        if (serverRegistry.equals(MemorySegment.NULL)) {
            throw new RpcException("the RPC server " + endpoint + " offers no devices");
        }
        installAbortHandler();
        Ggml.ggml_backend_register(serverRegistry);
        List<BackendDevice> devices = new ArrayList<>();
        long count = Ggml.ggml_backend_reg_dev_count(serverRegistry);
        for (long i = 0; i < count; i++) {
            devices.add(BackendDevice.of(Ggml.ggml_backend_reg_dev_get(serverRegistry, i)));
        }
        REGISTERED.put(endpoint, List.copyOf(devices));
        return REGISTERED.get(endpoint);
    }

    /**
     * Connects to the server and says hello as ggml would, so that a server that is down, not an
     * rpc-server, busy with another client or of another protocol version is one clear message here
     * rather than an abort inside ggml. The connection is closed again; the server then waits for the next.
     */
    static void checkServer(Endpoint endpoint) {
        String where = "the RPC server " + endpoint;
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(endpoint.host(), endpoint.port()), (int) CONNECT_TIMEOUT.toMillis());
            socket.setSoTimeout((int) REPLY_TIMEOUT.toMillis());
            ByteBuffer hello = ByteBuffer.allocate(1 + 8 + CONNECTION_CAPS).order(ByteOrder.LITTLE_ENDIAN);
            hello.put(COMMAND_HELLO).putLong(CONNECTION_CAPS);   // caps all zero: plain TCP
            OutputStream out = socket.getOutputStream();
            out.write(hello.array());
            out.flush();
            DataInputStream in = new DataInputStream(socket.getInputStream());
            byte[] sizeBytes = new byte[8];
            in.readFully(sizeBytes);
            long size = ByteBuffer.wrap(sizeBytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (size != 4 + CONNECTION_CAPS) {
                throw new RpcException(where + " answered the RPC hello with " + size + " bytes, not " + (4 + CONNECTION_CAPS)
                        + ": it is not an rpc-server of this ggml version");
            }
            byte[] reply = new byte[(int) size];
            in.readFully(reply);
            int major = reply[0] & 0xff;
            int minor = reply[1] & 0xff;
            int patch = reply[2] & 0xff;
            if (major != PROTOCOL_MAJOR || minor > PROTOCOL_MINOR) {
                throw new RpcException(where + " speaks RPC protocol " + major + "." + minor + "." + patch + ", this ggml speaks "
                        + PROTOCOL_MAJOR + "." + PROTOCOL_MINOR + ": run an rpc-server built from the same ggml");
            }
        } catch (UnknownHostException e) {
            throw new RpcException(where + ": unknown host " + endpoint.host());
        } catch (ConnectException e) {
            throw new RpcException("cannot connect to " + where + " (" + e.getMessage() + "): is rpc-server running there?");
        } catch (SocketTimeoutException e) {
            throw new RpcException(where + " did not answer within " + CONNECT_TIMEOUT.toSeconds() + " s to connect, "
                    + REPLY_TIMEOUT.toSeconds() + " s to reply (an rpc-server serves one client at a time: is another using it?)");
        } catch (IOException e) {
            throw new RpcException(where + " failed the RPC handshake (" + e.getMessage() + "): is it an rpc-server?");
        }
    }

    private static boolean abortHandlerInstalled;

    /** ggml's abort callback for the rest of the process: one line, then the end of the process (see above). */
    private static void installAbortHandler() {
        if (!abortHandlerInstalled) {
            Ggml.ggml_set_abort_callback(ggml_abort_callback_t.allocate(RpcServers::aborted, Arena.global()));
            abortHandlerInstalled = true;
        }
    }

    private static void aborted(MemorySegment message) {
        String text = message.reinterpret(4096).getString(0);
        String line = text.contains("RPC")
                ? "panllama: an RPC server stopped answering or sent a malformed reply, and ggml cannot go on without it (" + text.strip() + ")"
                : "panllama: ggml stopped: " + text.strip();
        System.err.println(line);
        System.err.flush();
        Runtime.getRuntime().halt(EXIT_CODE_ABORTED);
    }

    private static MemorySegment registry() {
        try (Arena scratch = Arena.ofConfined()) {
            return Ggml.ggml_backend_reg_by_name(scratch.allocateFrom("RPC"));
        }
    }

    /** {@code ggml_backend_reg_t ggml_backend_rpc_add_server(const char * endpoint)}, called through its address. */
    private static final MethodHandle ADD_SERVER = Linker.nativeLinker().downcallHandle(
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));

    /** {@code HOST:PORT}, as ggml parses it (the host is everything before the first colon). */
    record Endpoint(String host, int port) {
        static Endpoint parse(String text) {
            int colon = text.indexOf(':');
            if (colon <= 0 || colon == text.length() - 1) {
                throw new IllegalArgumentException("--rpc takes HOST:PORT[,HOST:PORT...], not '" + text + "'");
            }
            int port;
            try {
                port = Integer.parseInt(text.substring(colon + 1));
            } catch (NumberFormatException e) {
                port = -1;
            }
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("--rpc " + text + ": the port must be a number from 1 to 65535");
            }
            return new Endpoint(text.substring(0, colon), port);
        }

        @Override
        public String toString() {
            return host + ":" + port;
        }
    }

    /** An RPC server that cannot be used; the message says why and what to do. */
    public static final class RpcException extends RuntimeException {
        public RpcException(String message) {
            super(message);
        }
    }
}
