package dev.panllama.cli;

import dev.panllama.ggml.GgmlType;
import dev.panllama.quantize.FileType;
import dev.panllama.quantize.Quantizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Quantize a GGUF model (F32, F16 or BF16) to a smaller type, as llama-quantize does: same types, same bytes.")
final class QuantizeCommand extends Subcommand {

    @Parameters(index = "0", paramLabel = "IN.gguf", description = "The model to quantize; it is only read.")
    Path input;

    @Parameters(index = "1", paramLabel = "OUT.gguf", description = "The file to write (replaced only once complete).")
    Path output;

    @Parameters(index = "2", paramLabel = "TYPE", description = "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M, Q6_K, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, F16, BF16, F32.")
    String type;

    @Option(names = "--allow-requantize", description = "Allow an already quantized input (quality suffers).")
    boolean allowRequantize;

    @Option(names = "--pure", description = "Every quantized tensor of the default type: no mix bumps.")
    boolean pure;

    @Option(names = "--output-tensor-type", paramLabel = "TYPE", description = "The type of output.weight.")
    String outputType;

    @Option(names = "--token-embedding-type", paramLabel = "TYPE", description = "The type of token_embd.weight.")
    String embeddingType;

    @Option(names = "--keep-split", description = "Quantize a split model into as many parts, OUT-00001-of-0000N.gguf and on.")
    boolean keepSplit;

    @Option(names = "--imatrix", paramLabel = "FILE", description = "An importance matrix (llama.cpp's imatrix GGUF) to weigh the quantization by.")
    Path imatrix;

    @Mixin
    ThreadsArg threads;

    @Override
    public Integer call() throws IOException {
        InputFile.require(input);
        Quantizer.Options options = new Quantizer.Options(FileType.of(type), allowRequantize, pure,
                tensorType("--output-tensor-type", outputType), tensorType("--token-embedding-type", embeddingType), threads.count, imatrix, keepSplit);
        ProgressBar bar = new ProgressBar(err());
        Quantizer.Summary summary = Quantizer.quantize(input, output, options, (done, total, bytes, allBytes) ->
                bar.show(allBytes == 0 ? 1 : bytes / (double) allBytes, done + "/" + total + " tensors, " + Units.bytes(bytes)));
        bar.finish();
        out().printf("quantized %s to %s as %s: %d tensors, %s -> %s (%.2f -> %.2f bits per weight) in %s%n",
                input, output, options.type(), summary.tensors(), Units.bytes(summary.bytesBefore()),
                Units.bytes(summary.bytesAfter()), summary.bitsPerWeightBefore(), summary.bitsPerWeightAfter(), Units.seconds(summary.seconds()));
        return 0;
    }

    private static GgmlType tensorType(String option, String name) {
        if (name == null) {
            return null;
        }
        try {
            return GgmlType.valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(option + ": unknown tensor type '" + name + "'");
        }
    }
}
