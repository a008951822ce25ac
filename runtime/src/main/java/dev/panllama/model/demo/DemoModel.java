package dev.panllama.model.demo;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufValue;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;

/**
 * panllama's demo model: Llama 4 architecture, random weights, the real Llama 3 tokenizer. It lets
 * the command and the API run on a machine with no model and no network; its replies are
 * meaningless. Made once per version into the user cache.
 */
public final class DemoModel {

    /** The vocabulary packed into distributable jars by scripts/package. */
    static final String VOCABULARY_RESOURCE = "/dev/panllama/demo/ggml-vocab-llama-bpe.gguf";
    private static final String VOCABULARY = "ggml-vocab-llama-bpe.gguf";
    /** Llama 3's chat layout: the llama-bpe vocabulary has its header and end-of-turn tokens. */
    private static final String CHAT_TEMPLATE = "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
            + "'<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

    private DemoModel() {
    }

    public static RandomModelSpec spec() {
        return RandomModelSpec.scoutLike(GgmlType.Q8_0, 20261126).withTiedOutput(true);
    }

    /** The demo model's file, written first if this version has not written it yet. */
    public static Path ensure() {
        UserCache cache = UserCache.user();
        NativePin pin = NativePin.current();
        Path target = cache.root().resolve("demo").resolve("panllama-demo-llama4-" + pin.version() + ".gguf");
        if (Files.isRegularFile(target)) {
            return target;
        }
        try {
            Files.createDirectories(target.getParent());
            Path vocabulary = llama3Vocabulary(target.getParent());
            RandomModelWriter.write(spec(), vocabulary, target, Map.of("tokenizer.chat_template", GgufValue.of(CHAT_TEMPLATE),
                    "general.description", GgufValue.of("panllama demo model: random weights, meaningless replies")));
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the demo model to " + target + ": " + e.getMessage(), e);
        }
    }

    /**
     * The Llama 3 vocabulary the random models are written with: the jar's copy, unpacked into
     * {@code directory}, or else the pinned tree's.
     */
    public static Path llama3Vocabulary(Path directory) throws IOException {
        UserCache cache = UserCache.user();
        NativePin pin = NativePin.current();
        try (InputStream packed = DemoModel.class.getResourceAsStream(VOCABULARY_RESOURCE)) {
            if (packed != null) {
                Path copy = directory.resolve(VOCABULARY);
                Files.copy(packed, copy, StandardCopyOption.REPLACE_EXISTING);
                return copy;
            }
        }
        Path pinned = cache.vocabularies(pin).resolve(VOCABULARY);
        if (Files.isRegularFile(pinned)) {
            return pinned;
        }
        throw new IllegalStateException("the demo model needs the Llama 3 vocabulary, which neither this jar nor "
                + pinned.getParent() + " has: run scripts/build-native, or use a jar made by scripts/package");
    }
}
