package dev.panllama.cli;

import dev.panllama.api.LlamaModel;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufArray;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufTensorInfo;
import dev.panllama.gguf.GgufValue;
import dev.panllama.model.Architecture;
import dev.panllama.model.Dimensions;
import dev.panllama.model.Experts;
import dev.panllama.model.ModelConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.Map;
import java.util.TreeMap;

@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Describe a GGUF model: architecture, metadata, tensors by type, size and a memory estimate.")
final class InfoCommand extends Subcommand {

    @Mixin
    ModelArgs model;

    @Option(names = "--tensors", description = "List every tensor.")
    boolean listTensors;

    @Option(names = "--plan", description = "Show where the weights, KV cache and compute buffers would go with the model options given (--fit, --device-memory, -ngl, ...), without loading the model.")
    boolean plan;

    @Override
    public Integer call() {
        PrintWriter out = out();
        try (GgufFile gguf = GgufFile.open(model.requireModel())) {
            String arch = gguf.metadata().findString("general.architecture").orElse("(none)");
            out.printf("file          %s%s%n", gguf.parts().getFirst(), gguf.parts().size() > 1 ? " (+" + (gguf.parts().size() - 1) + " parts)" : "");
            out.printf("gguf          version %d, alignment %d, %s%n", gguf.version(), gguf.alignment(), Units.bytes(gguf.fileBytes()));
            out.printf("architecture  %s%n", arch);
            gguf.metadata().findString("general.name").ifPresent(name -> out.printf("name          %s%n", name));

            Map<GgmlType, long[]> byType = new TreeMap<>();
            long parameters = 0;
            long weightBytes = 0;
            for (GgufTensorInfo tensor : gguf.tensors()) {
                long[] totals = byType.computeIfAbsent(tensor.type(), t -> new long[3]);
                totals[0]++;
                totals[1] += tensor.elementCount();
                totals[2] += tensor.byteSize();
                parameters += tensor.elementCount();
                weightBytes += tensor.byteSize();
            }
            out.printf("parameters    %s (%d tensors, %.2f bits per weight)%n", Units.count(parameters), gguf.tensors().size(),
                    parameters == 0 ? 0.0 : weightBytes * 8.0 / parameters);
            out.println("tensors by type:");
            byType.forEach((type, totals) -> out.printf("  %-8s %5d tensors %12s parameters %10s%n",
                    type, totals[0], Units.count(totals[1]), Units.bytes(totals[2])));

            try {
                ModelConfig config = Architecture.of(gguf.metadata()).configure(gguf.metadata());
                Dimensions dims = config.dims();
                // The CPU's default context: on a device it is capped, see ModelOptions.contextLength.
                int context = model.contextLength > 0 ? model.contextLength : dims.contextLength();
                long cache = kvCacheBytes(config, context);
                out.printf("layers        %d (%d heads, %d KV heads, head %d), embedding %d, vocabulary %d%n",
                        dims.layers(), dims.heads(), dims.kvHeads(), dims.headSize(), dims.embedding(), dims.vocabSize());
                Experts experts = config.experts();
                if (experts.count() > 0) {
                    out.printf("experts       %d, %d used per token, expert FFN %d%n", experts.count(), experts.used(), experts.feedForward());
                }
                out.printf("memory        weights %s; F16 KV cache at most %s for %d tokens, %s for the first 8192 "
                                + "(in host memory it is taken as tokens fill it)%n",
                        Units.bytes(weightBytes), Units.bytes(cache), context, Units.bytes(kvCacheBytes(config, Math.min(context, 8192))));
            } catch (RuntimeException unsupported) {
                out.printf("panllama      cannot run it: %s%n", unsupported.getMessage());
            }

            if (plan) {
                LlamaModel.plan(gguf.parts().getFirst(), model.options()).ifPresentOrElse(p -> p.describe().forEach(out::println),
                        () -> out.println("placement: everything on the CPU (no device to offload to)"));
            }

            out.println("metadata:");
            gguf.metadata().asMap().forEach((key, value) -> out.printf("  %-44s %s%n", key, describe(value)));
            if (listTensors) {
                out.println("tensors:");
                gguf.tensors().forEach(t -> out.printf("  %-40s %-8s %s%n", t.name(), t.type(), java.util.Arrays.toString(t.shape())));
            }
        }
        return 0;
    }

    /** Bytes of an F16 KV cache holding {@code tokens}: chunked layers keep a chunk and a micro-batch of 512 at most. */
    private static long kvCacheBytes(ModelConfig config, int tokens) {
        long bytes = 0;
        for (int layer = 0; layer < config.dims().layers(); layer++) {
            long cells = config.plan().isChunked(layer) ? Math.min(tokens, config.plan().chunkSize() + 512L) : tokens;
            bytes += 2 * cells * config.dims().kvWidth() * 2L;
        }
        return bytes;
    }

    private static String describe(GgufValue value) {
        if (value.value() instanceof GgufArray array) {
            return array.elementType() + "[" + array.length() + "]";
        }
        String text = String.valueOf(value.value()).replace("\n", "\\n");
        return text.length() > 80 ? text.substring(0, 77) + "..." : text;
    }
}
