package dev.panllama.parity;

import dev.panllama.eval.Evaluator;
import dev.panllama.ggml.RpcServers;
import dev.panllama.model.Model;
import dev.panllama.placement.Offload;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.util.List;

/**
 * The child process of {@link RpcOffloadParityTest#aServerThatDiesMidRunEndsTheProcessWithOneLine}:
 * opens MODEL with every layer on the RPC server at ENDPOINT, evaluates a few tokens, says READY, and
 * evaluates again once a line arrives on standard input (by then the server is gone).
 */
public final class RpcServerDeathMain {

    private RpcServerDeathMain() {
    }

    public static void main(String[] args) throws Exception {
        try (Model model = Model.open(Path.of(args[0]), 1, true, fraction -> { }, RpcServers.connect(List.of(args[1])), Offload.all());
             Evaluator evaluator = new Evaluator(model, 64, 8)) {
            evaluator.evaluate(new int[] {1, 2, 3}, 2);
            System.out.println("READY");
            System.out.flush();
            new BufferedReader(new InputStreamReader(System.in)).readLine();
            evaluator.evaluate(new int[] {4, 5}, 1);
            System.out.println("SURVIVED");
        }
    }
}
