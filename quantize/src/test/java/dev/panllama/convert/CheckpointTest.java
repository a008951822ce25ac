package dev.panllama.convert;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Finding a checkpoint's shards: through the index or the shard names, every promised shard there. */
class CheckpointTest {

    @TempDir
    Path directory;

    /** A shard holding one F32 vector named {@code name}. */
    private void shard(String file, String name) throws IOException {
        byte[] json = ("{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}").getBytes(StandardCharsets.UTF_8);
        ByteBuffer bytes = ByteBuffer.allocate(8 + json.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        bytes.putLong(json.length).put(json).putFloat(1).putFloat(2);
        Files.write(directory.resolve(file), bytes.array());
    }

    private void config() throws IOException {
        Files.writeString(directory.resolve("config.json"), "{\"architectures\":[\"LlamaForCausalLM\"]}");
    }

    private void assertRefused(String message) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(directory).close());
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }

    @Test
    void opensShardsThroughTheIndex() throws IOException {
        config();
        shard("model-00001-of-00002.safetensors", "a");
        shard("model-00002-of-00002.safetensors", "b");
        Files.writeString(directory.resolve("model.safetensors.index.json"),
                "{\"metadata\":{},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        try (Checkpoint checkpoint = Checkpoint.open(directory)) {
            assertEquals(2, checkpoint.tensors().size());
            assertEquals(2f, checkpoint.tensors().get("b").get(1));
            assertEquals("LlamaForCausalLM", checkpoint.config().architecture());
        }
    }

    @Test
    void aMissingShardIsNamed() throws IOException {
        config();
        shard("model-00001-of-00003.safetensors", "a");
        shard("model-00003-of-00003.safetensors", "c");
        assertRefused("shard model-00002-of-00003.safetensors is missing");
        Files.writeString(directory.resolve("model.safetensors.index.json"),
                "{\"weight_map\":{\"a\":\"model-00001-of-00003.safetensors\",\"b\":\"model-00002-of-00003.safetensors\"}}");
        assertRefused("shard model-00002-of-00003.safetensors is missing");
    }

    @Test
    void anIndexThatDisagreesWithItsShardsIsRefused() throws IOException {
        config();
        shard("model-00001-of-00001.safetensors", "a");
        Files.writeString(directory.resolve("model.safetensors.index.json"),
                "{\"weight_map\":{\"z\":\"model-00001-of-00001.safetensors\"}}");
        assertRefused("puts tensor z in model-00001-of-00001.safetensors, which does not hold it");
    }

    @Test
    void aTensorInTwoShardsIsRefused() throws IOException {
        config();
        shard("first.safetensors", "a");
        shard("second.safetensors", "a");
        assertRefused("tensor a is in two shards");
    }

    @Test
    void noConfigOrNoWeightsIsSaidPlainly() throws IOException {
        assertRefused("config.json is missing");
        config();
        assertRefused("has no .safetensors files");
        Files.writeString(directory.resolve("config.json"), "{\"architectures\":");
        assertRefused("malformed JSON");
    }
}
