package dev.panllama.cli;

import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

@Command(name = "list", mixinStandardHelpOptions = true,
        description = "List GGUF models already on this machine, in the caches of llama.cpp, Ollama, LM Studio and the Hugging Face hub.")
final class ListCommand extends Subcommand {

    /** A model found on disk, usable with -m. */
    record Found(String source, String name, Path path, long size) {
    }

    @Override
    public Integer call() {
        PrintWriter out = out();
        List<Found> found = find(System.getenv(), Path.of(System.getProperty("user.home")));
        if (found.isEmpty()) {
            out.println("no GGUF models found in the llama.cpp, Ollama, LM Studio or Hugging Face caches");
            return 0;
        }
        for (Found model : found) {
            out.printf("%-12s %-48s %10s  %s%n", model.source(), model.name(), Units.bytes(model.size()), model.path());
        }
        return 0;
    }

    static List<Found> find(Map<String, String> env, Path home) {
        List<Found> found = new ArrayList<>();
        Path llamaCpp = env.containsKey("LLAMA_CACHE") ? Path.of(env.get("LLAMA_CACHE")) : home.resolve(".cache/llama.cpp");
        ggufFiles(llamaCpp, 1).forEach(p -> found.add(new Found("llama.cpp", p.getFileName().toString(), p, size(p))));

        Path hub = env.containsKey("HF_HUB_CACHE") ? Path.of(env.get("HF_HUB_CACHE"))
                : env.containsKey("HF_HOME") ? Path.of(env.get("HF_HOME"), "hub") : home.resolve(".cache/huggingface/hub");
        ggufFiles(hub, 5).forEach(p -> found.add(new Found("huggingface", hubName(hub, p), p, size(p))));

        for (Path studio : List.of(home.resolve(".lmstudio/models"), home.resolve(".cache/lm-studio/models"))) {
            ggufFiles(studio, 4).forEach(p -> found.add(new Found("lm-studio", studio.relativize(p).toString(), p, size(p))));
        }

        Path ollama = env.containsKey("OLLAMA_MODELS") ? Path.of(env.get("OLLAMA_MODELS")) : home.resolve(".ollama/models");
        found.addAll(ollama(ollama));
        return found;
    }

    private static List<Path> ggufFiles(Path root, int depth) {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        try (Stream<Path> files = Files.walk(root, depth)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".gguf") && Files.isRegularFile(p)).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /** {@code models--OWNER--REPO/snapshots/REV/FILE} as {@code OWNER/REPO/FILE}. */
    private static String hubName(Path hub, Path file) {
        Path relative = hub.relativize(file);
        String repo = relative.getName(0).toString();
        String name = repo.startsWith("models--") ? repo.substring("models--".length()).replace("--", "/") : repo;
        return name + "/" + file.getFileName();
    }

    private static final Pattern LAYER = Pattern.compile(
            "\"mediaType\"\\s*:\\s*\"application/vnd\\.ollama\\.image\\.model\"\\s*,\\s*\"digest\"\\s*:\\s*\"sha256:([0-9a-f]{64})\"");

    /** Ollama keeps models as blobs named by digest; its manifests say which blob is which model. */
    private static List<Found> ollama(Path root) {
        Path manifests = root.resolve("manifests");
        if (!Files.isDirectory(manifests)) {
            return List.of();
        }
        Map<Path, String> names = new HashMap<>();
        List<Found> found = new ArrayList<>();
        try (Stream<Path> files = Files.walk(manifests, 5)) {
            for (Path manifest : files.filter(Files::isRegularFile).sorted().toList()) {
                Matcher layer = LAYER.matcher(Files.readString(manifest));
                if (!layer.find()) {
                    continue;
                }
                Path blob = root.resolve("blobs").resolve("sha256-" + layer.group(1));
                if (!isGguf(blob) || names.containsKey(blob)) {
                    continue;
                }
                Path relative = manifests.relativize(manifest);
                int n = relative.getNameCount();
                String name = relative.getName(Math.max(0, n - 2)) + ":" + relative.getName(n - 1);
                names.put(blob, name);
                found.add(new Found("ollama", name, blob, size(blob)));
            }
        } catch (IOException e) {
            return found;
        }
        return found;
    }

    private static boolean isGguf(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] magic = in.readNBytes(4);
            return magic.length == 4 && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F';
        } catch (IOException e) {
            return false;
        }
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return 0;
        }
    }
}
