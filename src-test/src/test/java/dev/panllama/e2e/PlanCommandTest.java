package dev.panllama.e2e;

import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.parity.RpcServerProcess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code info --plan} and a placement that cannot fit, as a user meets them, with an rpc-server as the device. */
class PlanCommandTest {

    @Test
    void infoPrintsThePlanAndAPlacementThatCannotFitIsOneMessage(@TempDir Path temp) throws IOException, InterruptedException {
        Path model = temp.resolve("scout-like.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 51).withExperts(16, 1, 1).withLayers(8),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), model);
        try (RpcServerProcess server = RpcServerProcess.start(temp.resolve("rpc-server.log"), 1)) {
            String budget = server.buffer() + "=72MiB";
            PanllamaProcess.Run info = PanllamaProcess.run(temp, "", "info", "-m", model.toString(), "--plan", "-c", "1024", "-ub", "64",
                    "--rpc", server.endpoint(), "--device-memory", budget);
            assertEquals(0, info.exitCode(), info.err());
            assertTrue(info.out().contains("placement planned to fit (--fit):"), info.out());
            assertTrue(info.out().contains("of 72.0 MiB (--device-memory)"), info.out());
            assertTrue(info.out().contains("routed experts: "), info.out());
            assertTrue(info.out().contains("as llama.cpp options: -ngl "), info.out());

            PanllamaProcess.Run refused = PanllamaProcess.run(temp, "", "generate", "-m", model.toString(), "-p", "hello", "-n", "2",
                    "-c", "1024", "--rpc", server.endpoint(), "-ngl", "99", "--device-memory", server.buffer() + "=8MiB");
            PanllamaProcess.assertFails(refused, "the placement does not fit: RPC");
            assertTrue(refused.err().contains("but has 8.0 MiB (--device-memory)"), refused.err());
        }
    }
}
