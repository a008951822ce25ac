package dev.panllama.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ListCommandTest {

    @TempDir
    Path home;

    private static final byte[] GGUF = {'G', 'G', 'U', 'F', 3, 0, 0, 0};

    private Path file(String relative, byte[] content) throws IOException {
        Path path = home.resolve(relative);
        Files.createDirectories(path.getParent());
        return Files.write(path, content);
    }

    @Test
    void findsModelsInEveryKnownCache() throws IOException {
        file(".cache/llama.cpp/ggml-org_model-Q4_K_M.gguf", GGUF);
        file(".cache/huggingface/hub/models--meta-llama--Llama-4-Scout/snapshots/abc123/scout-Q4_K_M.gguf", GGUF);
        file(".lmstudio/models/lmstudio-community/Llama-3/llama-3-Q8_0.gguf", GGUF);
        String digest = "a".repeat(64);
        Path blob = file(".ollama/models/blobs/sha256-" + digest, GGUF);
        file(".ollama/models/blobs/sha256-" + "b".repeat(64), "not a model".getBytes());
        file(".ollama/models/manifests/registry.ollama.ai/library/llama4/scout",
                ("{\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:" + digest + "\",\"size\":8}]}").getBytes());
        file(".cache/llama.cpp/readme.txt", "not listed".getBytes());

        List<ListCommand.Found> found = ListCommand.find(Map.of(), home);
        assertEquals(List.of("llama.cpp", "huggingface", "lm-studio", "ollama"), found.stream().map(ListCommand.Found::source).toList());
        assertEquals("meta-llama/Llama-4-Scout/scout-Q4_K_M.gguf", found.get(1).name());
        assertEquals("llama4:scout", found.get(3).name());
        assertEquals(blob, found.get(3).path());
    }

    @Test
    void environmentOverridesTheDefaultFolders() throws IOException {
        Path custom = home.resolve("elsewhere");
        file("elsewhere/m.gguf", GGUF);
        List<ListCommand.Found> found = ListCommand.find(Map.of("LLAMA_CACHE", custom.toString()), home);
        assertEquals(1, found.size());
        assertEquals(custom.resolve("m.gguf"), found.getFirst().path());
    }
}
