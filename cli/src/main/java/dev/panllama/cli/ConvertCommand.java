package dev.panllama.cli;

import dev.panllama.convert.Converter;
import dev.panllama.quantize.FileType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;

@Command(name = "convert", mixinStandardHelpOptions = true,
        description = {"Convert a Hugging Face checkpoint (Llama 4 or Llama 3: config.json, *.safetensors, tokenizer.json)"
                + " to GGUF, as llama.cpp's convert_hf_to_gguf.py does, quantizing in the same pass when TYPE is quantized.",
                "The vision tower of a multimodal checkpoint is left out."})
final class ConvertCommand extends Subcommand {

    @Parameters(index = "0", paramLabel = "CHECKPOINT_DIR", description = "The checkpoint folder; it is only read.")
    Path checkpoint;

    @Parameters(index = "1", paramLabel = "OUT.gguf", description = "The file to write (replaced only once complete).")
    Path output;

    @Option(names = "--type", paramLabel = "TYPE", description = "F32, F16, BF16, Q8_0 (as llama.cpp's converter writes them),"
            + " or a quantization mix such as Q4_K_M or Q4_0 (as llama-quantize makes it of the converted file)."
            + " Default: BF16 or F16, as the checkpoint's weights are.")
    String type;

    @Mixin
    ThreadsArg threads;

    @Override
    public Integer call() throws IOException {
        Converter.Options options = new Converter.Options(type == null ? null : FileType.of(type), threads.count);
        ProgressBar bar = new ProgressBar(err());
        Converter.Summary summary = Converter.convert(checkpoint, output, options, (done, total, parameters, allParameters) ->
                bar.show(allParameters == 0 ? 1 : parameters / (double) allParameters, done + "/" + total + " tensors"),
                notice -> err().println("panllama: note: " + notice));
        bar.finish();
        out().printf("converted %s to %s (%s, %s): %d tensors, %,d parameters, %s (%.2f bits per weight) in %s%n",
                checkpoint, output, summary.architecture(), summary.type(), summary.tensors(), summary.parameters(),
                Units.bytes(summary.bytes()), summary.bitsPerWeight(), Units.seconds(summary.seconds()));
        return 0;
    }
}
