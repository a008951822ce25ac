package dev.panllama.cli;

import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.DemoModel;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.script.ScriptMain;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Writes the models the bench scripts measure, seeded, with the Llama 3 vocabulary:
 * <ul>
 *   <li>{@code bench} (the default): Llama 4 MoE of about 700M parameters (16 layers of 1024, 8
 *       experts of 1024, top-1, a shared expert, GQA 4:1), F16, for llama-quantize to make Q4_K_M;</li>
 *   <li>{@code scout}: Llama 4 Scout's widths (5120 wide, 40 query and 8 KV heads of 128, 16 experts
 *       of 8192 and a shared one, top-1) in 1 layer, written as Q4_K directly: about 2 GB, the
 *       matrix shapes a GPU meets in Scout, without the hours of writing all 48 layers;</li>
 *   <li>{@code scout-layout}: all of Scout's 48 layers and its trained context (10,485,760 tokens),
 *       Q4_K, the weights left as holes in the file (zeros, no disk): for planning
 *       ({@code info --plan}), not for computing.</li>
 *   <li>{@code context}: Llama 4's layer pattern (3 chunked layers to 1 global) in 4 layers of 256 with
 *       narrow attention (2 query heads and 1 KV head of 64), Q8_0, trained for 1,048,576 tokens: for
 *       decoding deep in the context ({@code scripts/bench-context -m context}), where a global layer's
 *       prompt processing grows with the square of the depth and a wide model would take hours to
 *       reach 128k tokens on a few cores.</li>
 *   <li>{@code skewed}: the bench model with 16 experts whose routing follows the token's topic (the
 *       model writer's topic skew, Zipf exponent 1.2: the first half of the vocabulary prefers some
 *       experts, the second half others), F16 for llama-quantize: for the expert cache
 *       ({@code scripts/bench-offload --cache}), whose hits depend on routing that is skewed as real
 *       routing is;</li>
 *   <li>{@code skewed-scout}: the same routing in 4 layers of Scout's widths (as {@code scout}), Q4_K,
 *       5.7 GB: what the cache is for, experts of Scout's size, each of which a miss reads from host
 *       memory (71 MB), where the bench model's (2 MB) cost less to read than a step's host work to
 *       dispatch them ({@code scripts/bench-offload --cache --scout}).</li>
 *   <li>{@code dense}: a dense Llama of Llama 3.2 1B's shape (16 layers of 2048, 32 query and 8 KV heads
 *       of 64, feed-forward 8192, output tied to the embeddings), F16 for llama-quantize: for serving
 *       ({@code scripts/bench-serve -m dense}), where a step of several sequences reads each weight
 *       once for all of them, which a mixture of experts does not (its sequences route to different
 *       experts).</li>
 * </ul>
 * Arguments: the file to write, and optionally the shape's name.
 */
final class BenchModel {

    private BenchModel() {
    }

    static RandomModelSpec spec() {
        return new RandomModelSpec("llama4", 16, 1024, 8, 2, 128, 2048, 8, 1, 1024, 1, -1, 0, 16384,
                500000f, 1e-5f, GgmlType.F16, false, true, "llama4", 700);
    }

    static RandomModelSpec dense() {
        return new RandomModelSpec("llama", 16, 2048, 32, 8, 64, 8192, 0, 0, 0, 1, -1, 0, 131072,
                500000f, 1e-5f, GgmlType.F16, true, false, "llama-bpe", 1);
    }

    static RandomModelSpec skewed() {
        return spec().withExperts(16, 1, 1).withTopicSkew(1.2);
    }

    static RandomModelSpec skewedScout() {
        return scoutShaped().withLayers(4).withTopicSkew(1.2);
    }

    static RandomModelSpec scoutShaped() {
        return new RandomModelSpec("llama4", 1, 5120, 40, 8, 128, 8192, 16, 1, 8192, 1, -1, 0, 16384,
                500000f, 1e-5f, GgmlType.Q4_K, false, true, "llama4", 109);
    }

    static RandomModelSpec scoutLayout() {
        return new RandomModelSpec("llama4", 48, 5120, 40, 8, 128, 8192, 16, 1, 8192, 1, -1, 0, 10_485_760,
                500000f, 1e-5f, GgmlType.Q4_K, false, true, "llama4", 109);
    }

    static RandomModelSpec contextShaped() {
        return new RandomModelSpec("llama4", 4, 256, 2, 1, 64, 512, 4, 1, 256, 1, -1, 0, 1_048_576,
                500000f, 1e-5f, GgmlType.Q8_0, false, true, "llama4", 128);
    }

    public static void main(String[] args) {
        ScriptMain.run("BenchModel TARGET.gguf [bench|scout|scout-layout|context|skewed|skewed-scout|dense]", 1, args, BenchModel::write);
    }

    private static void write(String[] args) throws IOException {
        Path target = Path.of(args[0]).toAbsolutePath();
        String shape = args.length > 1 ? args[1] : "bench";
        Path vocabulary = DemoModel.llama3Vocabulary(target.getParent());
        switch (shape) {
            case "bench" -> RandomModelWriter.write(spec(), vocabulary, target);
            case "scout" -> RandomModelWriter.write(scoutShaped(), vocabulary, target);
            case "scout-layout" -> RandomModelWriter.writeLayout(scoutLayout(), vocabulary, target);
            case "context" -> RandomModelWriter.write(contextShaped(), vocabulary, target);
            case "skewed" -> RandomModelWriter.write(skewed(), vocabulary, target);
            case "skewed-scout" -> RandomModelWriter.write(skewedScout(), vocabulary, target);
            case "dense" -> RandomModelWriter.write(dense(), vocabulary, target);
            default -> throw new IllegalArgumentException("unknown shape " + shape
                    + " (bench, scout, scout-layout, context, skewed, skewed-scout or dense)");
        }
    }
}
