package dev.panllama.parity;

import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.eval.Evaluator;
import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.RpcServers;
import dev.panllama.model.Model;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.placement.Offload;
import dev.panllama.reference.Reference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A model split between the CPU and a second device, with llama.cpp's placement options, against
 * libllama split the same way. The second device is ggml's RPC backend: the reference build's
 * rpc-server, started here on 127.0.0.1, which computes on the CPU but has buffers of its own, so
 * weights, KV cache and ops really are on another device and cross between the two. Both sides use
 * the same server, one after the other (an rpc-server serves one client at a time), with the
 * tolerances of {@link ModelParityTest}.
 */
class RpcOffloadParityTest {

    private static final int THREADS = 2;
    private static Path work;
    private static Reference reference;
    private static String prompt;
    private static RpcServerProcess server;
    private static String endpoint;

    @BeforeAll
    static void setUp() throws IOException, InterruptedException {
        work = Files.createTempDirectory("panllama-rpc");
        reference = new Reference(work);
        prompt = SampleText.prose(7, 90);
        server = RpcServerProcess.start(work.resolve("rpc-server.log"), THREADS);
        endpoint = server.endpoint();
    }

    @AfterAll
    static void cleanUp() throws IOException, InterruptedException {
        if (server != null) {
            server.close();
        }
        try (Stream<Path> files = Files.walk(work)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** One way of splitting the model, given to both sides in their own terms. */
    record Placement(String name, int gpuLayers, List<String> overrides, boolean cpuMoe, int cpuMoeLayers) {
        Offload offload() {
            List<Offload.TensorOverride> parsed = new ArrayList<>();
            overrides().forEach(o -> parsed.addAll(Offload.TensorOverride.parse(o.replace("{RPC}", rpcBuffer()))));
            return new Offload(gpuLayers, parsed, cpuMoe, cpuMoeLayers);
        }

        Reference.Offloading offloading() {
            return new Reference.Offloading(List.of(endpoint), gpuLayers,
                    overrides.stream().map(o -> o.replace("{RPC}", rpcBuffer())).toList(), cpuMoe, cpuMoeLayers);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /** The RPC device's buffer type as ggml names it: the server's device 0 and its endpoint. */
    private static String rpcBuffer() {
        return server.buffer();
    }

    record Case(String model, RandomModelSpec spec, int ubatch, Placement placement) {
        @Override
        public String toString() {
            return model + " " + spec.weightType() + " ubatch " + ubatch + ", " + placement;
        }
    }

    static Stream<Arguments> cases() {
        RandomModelSpec scout = ModelParityTest.retype(RandomModelSpec.scoutLike(GgmlType.F32, 31), GgmlType.Q4_0, 31);
        RandomModelSpec maverick = ModelParityTest.retype(RandomModelSpec.scoutLike(GgmlType.F32, 32).withExperts(4, 1, 2).withLayers(4),
                GgmlType.F16, 32);
        List<Placement> placements = List.of(
                new Placement("all layers on RPC", -1, List.of(), false, 0),
                new Placement("all layers, --n-cpu-moe 2", -1, List.of(), false, 2),
                new Placement("-ngl 3, -ot exps=CPU, -ot blk.0.attn_q=RPC", 3,
                        List.of("blk\\.0\\.attn_q\\.weight={RPC}", "exps=CPU"), false, 0));
        List<Arguments> cases = new ArrayList<>();
        for (Placement placement : placements) {
            cases.add(Arguments.of(new Case("scout-like", scout, 32, placement)));
            cases.add(Arguments.of(new Case("maverick-like", maverick, 512, placement)));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void splitModelMatchesTheReferenceSplitTheSameWay(Case c) throws IOException {
        Path model = work.resolve(c.model() + "-" + c.spec().weightType() + ".gguf");
        if (!Files.exists(model)) {
            RandomModelWriter.write(c.spec(), TokenizerParityTest.vocabulary("ggml-vocab-llama-bpe.gguf"), model);
        }
        Reference.Settings settings = new Reference.Settings(c.ubatch(), THREADS, 4096).with(c.placement().offloading());
        int[] ids = sameTokens(model, prompt);
        float[][] expected = reference.logits(model, ids, 0, settings, 128256);
        float[][] actual;
        long onServer;
        List<BackendDevice> devices = RpcServers.connect(List.of(endpoint));
        try (Model m = Model.open(model, THREADS, true, fraction -> { }, devices, c.placement().offload());
             Evaluator evaluator = new Evaluator(m, settings.contextLength(), c.ubatch())) {
            assertEquals(devices.getFirst(), m.device());
            onServer = m.weights().bytesByBuffer().getOrDefault(rpcBuffer(), 0L);
            assertTrue(onServer > 0, "no weights on the RPC device: " + m.weights().bytesByBuffer());
            actual = evaluator.evaluate(ids, 0);
        }
        ModelParityTest.Comparison comparison = ModelParityTest.Comparison.of(expected, actual);
        boolean quantized = c.spec().weightType().isQuantized();
        System.out.printf("rpc parity %-70s %d positions, %.1f MiB of weights on RPC: median %.2e, max %.2e, top-1 agrees %.1f%%%n",
                c, ids.length, onServer / 1048576.0, comparison.median(), comparison.max(), 100 * comparison.top1Agreement());
        comparison.assertWithin(quantized ? 1e-2 : 1e-3, quantized ? 0.90 : 0.95, c.toString());
    }

    @Test
    void anUnreachableServerIsOneClearMessage() throws IOException {
        int closed = RpcServerProcess.freePort();
        var error = assertThrows(RpcServers.RpcException.class, () -> RpcServers.connect(List.of("127.0.0.1:" + closed)));
        assertTrue(error.getMessage().startsWith("cannot connect to the RPC server 127.0.0.1:" + closed), error.getMessage());
        assertTrue(error.getMessage().contains("is rpc-server running there?"), error.getMessage());

        // Through the facade, as the command opens models.
        Path model = work.resolve("unreachable.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.F32, 33), TokenizerParityTest.vocabulary("ggml-vocab-llama-bpe.gguf"), model);
        var viaFacade = assertThrows(RpcServers.RpcException.class, () -> LlamaModel.open(model,
                ModelOptions.defaults().withThreads(1).withRpcServers(List.of("127.0.0.1:" + closed))));
        assertEquals(error.getMessage(), viaFacade.getMessage());
    }

    @Test
    void somethingElseOnThePortIsOneClearMessage() throws IOException {
        try (ServerSocket notRpc = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Thread answerer = Thread.ofVirtual().start(() -> {
                try (Socket client = notRpc.accept()) {
                    client.getOutputStream().write("HTTP/1.1 400 Bad Request\r\n\r\n".getBytes());
                } catch (IOException ignored) {
                    // the test reads what it got
                }
            });
            var error = assertThrows(RpcServers.RpcException.class,
                    () -> RpcServers.connect(List.of("127.0.0.1:" + notRpc.getLocalPort())));
            assertTrue(error.getMessage().contains("not an rpc-server") || error.getMessage().contains("is it an rpc-server?"),
                    error.getMessage());
            answerer.interrupt();
        }
    }

    /**
     * A server that dies while a model uses it: ggml aborts then, which cannot be turned into an
     * exception; the process must end with one line that says so and exit code 70, not a JVM crash.
     */
    @Test
    void aServerThatDiesMidRunEndsTheProcessWithOneLine() throws IOException, InterruptedException {
        Path model = work.resolve("dies.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.F32, 34), TokenizerParityTest.vocabulary("ggml-vocab-llama-bpe.gguf"), model);
        RpcServerProcess doomed = RpcServerProcess.start(work.resolve("doomed.log"), 1);
        Process child = null;
        try {
            Path output = work.resolve("child.log");
            child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED", "-XX:-CreateCoredumpOnCrash", "-cp", System.getProperty("java.class.path"),
                    RpcServerDeathMain.class.getName(), model.toString(), doomed.endpoint())
                    .directory(work.toFile()).redirectErrorStream(true).redirectOutput(output.toFile()).start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.readString(output).contains("READY")) {
                assertTrue(child.isAlive() && System.nanoTime() < deadline, "the child did not get ready: " + Files.readString(output));
                Thread.sleep(100);
            }
            doomed.kill();
            child.getOutputStream().write('\n');
            child.getOutputStream().flush();
            assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the child hangs: " + Files.readString(output));
            String text = Files.readString(output);
            System.out.println("after its RPC server died the child printed: "
                    + text.lines().filter(l -> l.startsWith("panllama:")).findFirst().orElse("(nothing)") + "; exit " + child.exitValue());
            assertEquals(RpcServers.EXIT_CODE_ABORTED, child.exitValue(), text);
            assertTrue(text.contains("panllama: an RPC server stopped answering or sent a malformed reply"), text);
            assertFalse(text.contains("SURVIVED") || text.contains("hs_err") || text.contains("fatal error"), text);
        } finally {
            doomed.kill();
            if (child != null) {
                child.destroyForcibly();
            }
        }
    }

    @Test
    void aMalformedEndpointIsAUsageError() {
        var error = assertThrows(IllegalArgumentException.class, () -> RpcServers.connect(List.of("localhost")));
        assertTrue(error.getMessage().contains("HOST:PORT"), error.getMessage());
    }

    private static int[] sameTokens(Path model, String text) throws IOException {
        return ModelParityTest.sameTokens(reference, model, text);
    }
}
