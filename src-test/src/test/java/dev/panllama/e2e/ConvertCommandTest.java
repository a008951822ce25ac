package dev.panllama.e2e;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.convert.HfCheckpoint;
import dev.panllama.e2e.PanllamaProcess.Run;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code panllama convert} as a user runs it: a checkpoint converts and the result generates text;
 * every broken checkpoint (a missing shard, a shape config.json contradicts, a truncated shard, an
 * unknown architecture, no tokenizer) stops with one clear line, a non-zero exit, no output file and no
 * temporary file left, and a file already at the output path is left as it was.
 */
class ConvertCommandTest {

    @TempDir
    Path temp;

    private Path checkpoint(String name) throws IOException {
        Path directory = temp.resolve(name);
        HfCheckpoint.write(new HfCheckpoint.Spec(true, 4, 64, 4, 2, 16, 96, 4, 1, 48, 2, "BF16", 2, true, false, 51),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), directory);
        return directory;
    }

    @Test
    void convertsAndTheResultGenerates() throws Exception {
        Path directory = checkpoint("good");
        Path out = temp.resolve("good-q8.gguf");
        Run run = PanllamaProcess.run(temp, "", "convert", directory.toString(), out.toString(), "--type", "Q8_0", "-t", "2");
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("(llama4, Q8_0)"), run.out());
        assertTrue(run.err().contains("note: left out the vision tower"), run.err());
        Path plain = Files.createFile(temp.resolve("plain-file"));
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(out),
                "the model gets the permissions of any new file, not a temporary file's owner-only ones");
        Run info = PanllamaProcess.run(temp, "", "info", "-m", out.toString());
        assertTrue(info.out().contains("architecture  llama4"), info.out());
        Run generated = PanllamaProcess.run(temp, "", "generate", "-m", out.toString(), "-p", "Hello", "-n", "4", "--greedy", "-t", "2");
        assertEquals(0, generated.exitCode(), generated.err());
    }

    @Test
    void brokenCheckpointsStopWithOneClearLineAndLeaveNothing() throws Exception {
        Path missingShard = checkpoint("missing-shard");
        Files.delete(missingShard.resolve("model-00002-of-00002.safetensors"));
        assertRefused(missingShard, "shard model-00002-of-00002.safetensors is missing");

        Path wrongShape = checkpoint("wrong-shape");
        Path config = wrongShape.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"intermediate_size_mlp\":96", "\"intermediate_size_mlp\":80"));
        assertRefused(wrongShape, "has shape [96, 64], but config.json implies [80, 64]");

        Path truncated = checkpoint("truncated");
        Path shard = truncated.resolve("model-00001-of-00002.safetensors");
        try (RandomAccessFile file = new RandomAccessFile(shard.toFile(), "rw")) {
            file.setLength(file.length() / 2);
        }
        assertRefused(truncated, "truncated");

        Path unknown = checkpoint("unknown-architecture");
        config = unknown.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("Llama4ForConditionalGeneration", "MambaForCausalLM"));
        assertRefused(unknown, "architecture MambaForCausalLM is not one panllama converts");

        Path noTokenizer = checkpoint("no-tokenizer");
        Files.delete(noTokenizer.resolve("tokenizer.json"));
        assertRefused(noTokenizer, "tokenizer.json is missing");

        Path ontoItself = checkpoint("onto-itself");
        Path shardOut = ontoItself.resolve("model-00001-of-00002.safetensors");
        byte[] shardBytes = Files.readAllBytes(shardOut);
        Run ontoAShard = PanllamaProcess.run(temp, "", "convert", ontoItself.toString(), shardOut.toString());
        PanllamaProcess.assertFails(ontoAShard, "the output must not be one of the checkpoint's own files");
        assertArrayEquals(shardBytes, Files.readAllBytes(shardOut), "the shard is untouched");

        Run notAFolder = PanllamaProcess.run(temp, "", "convert", temp.resolve("nowhere").toString(), temp.resolve("x.gguf").toString());
        PanllamaProcess.assertFails(notAFolder, "is not a folder");
        Run badType = PanllamaProcess.run(temp, "", "convert", missingShard.toString(), temp.resolve("x.gguf").toString(), "--type", "Q9_9");
        PanllamaProcess.assertFails(badType, "unknown quantization type 'Q9_9'");
    }

    /** Converting {@code directory} fails with {@code message}; the user's file at the output path survives. */
    private void assertRefused(Path directory, String message) throws Exception {
        Path out = temp.resolve(directory.getFileName() + ".gguf");
        Files.writeString(out, "the user's own file");
        Run run = PanllamaProcess.run(temp, "", "convert", directory.toString(), out.toString(), "-t", "2");
        PanllamaProcess.assertFails(run, message);
        assertEquals("the user's own file", Files.readString(out), "a failed conversion must not touch the existing output");
        try (Stream<Path> files = Files.list(temp)) {
            List<Path> partial = files.filter(p -> p.getFileName().toString().endsWith(".partial")).toList();
            assertTrue(partial.isEmpty(), "temporary files left behind: " + partial);
        }
    }
}
