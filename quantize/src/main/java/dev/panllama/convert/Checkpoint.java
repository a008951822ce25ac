package dev.panllama.convert;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A Hugging Face checkpoint folder: {@code config.json} and the safetensors shards, found through
 * {@code model.safetensors.index.json} when there is one. Every shard is mapped when the checkpoint
 * opens, after checking that each one the index or the shard names promise is there, so a missing
 * shard stops the conversion before anything is written.
 */
public final class Checkpoint implements AutoCloseable {

    private static final String INDEX = "model.safetensors.index.json";
    private static final Pattern SHARD = Pattern.compile("(.*)-(\\d+)-of-(\\d+)\\.safetensors");

    private final Path directory;
    private final HfConfig config;
    private final List<SafetensorsFile> shards;
    private final Map<String, SafetensorsFile.Tensor> tensors;

    private Checkpoint(Path directory, HfConfig config, List<SafetensorsFile> shards, Map<String, SafetensorsFile.Tensor> tensors) {
        this.directory = directory;
        this.config = config;
        this.shards = shards;
        this.tensors = tensors;
    }

    public static Checkpoint open(Path directory) throws IOException {
        if (!Files.isDirectory(directory)) {
            throw new CheckpointException(directory + " is not a folder: convert takes a Hugging Face checkpoint folder"
                    + " (config.json, *.safetensors, tokenizer.json)");
        }
        HfConfig config = HfConfig.read(directory.resolve("config.json"));
        Map<String, String> index = readIndex(directory);
        List<Path> files = index == null ? shardFiles(directory) : indexedFiles(directory, index);
        List<SafetensorsFile> shards = new ArrayList<>();
        try {
            Map<String, SafetensorsFile.Tensor> tensors = new LinkedHashMap<>();
            for (Path file : files) {
                SafetensorsFile shard = SafetensorsFile.open(file);
                shards.add(shard);
                for (SafetensorsFile.Tensor tensor : shard.tensors().values()) {
                    if (tensors.putIfAbsent(tensor.name(), tensor) != null) {
                        throw new CheckpointException("tensor " + tensor.name() + " is in two shards: "
                                + tensors.get(tensor.name()).file().getFileName() + " and " + file.getFileName());
                    }
                }
            }
            if (index != null) {
                for (Map.Entry<String, String> entry : index.entrySet()) {
                    SafetensorsFile.Tensor tensor = tensors.get(entry.getKey());
                    if (tensor == null || !tensor.file().getFileName().toString().equals(entry.getValue())) {
                        throw new CheckpointException(INDEX + " puts tensor " + entry.getKey() + " in " + entry.getValue()
                                + ", which does not hold it (a shard from another download?)");
                    }
                }
            }
            return new Checkpoint(directory, config, shards, tensors);
        } catch (IOException | RuntimeException e) {
            shards.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    /** The index's tensor-to-shard map, or null without an index. */
    private static Map<String, String> readIndex(Path directory) throws IOException {
        Path file = directory.resolve(INDEX);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        if (!(JsonFiles.readObject(file).get("weight_map") instanceof Map<?, ?> map)) {
            throw new CheckpointException(file + " has no weight_map");
        }
        Map<String, String> index = new LinkedHashMap<>();
        map.forEach((name, shard) -> {
            if (!(shard instanceof String s) || s.contains("/") || s.contains("\\")) {
                throw new CheckpointException(file + ": tensor " + name + " has no shard file name");
            }
            index.put((String) name, s);
        });
        return index;
    }

    private static List<Path> indexedFiles(Path directory, Map<String, String> index) {
        Map<String, Integer> counts = new TreeMap<>();
        index.values().forEach(shard -> counts.merge(shard, 1, Integer::sum));
        List<Path> files = new ArrayList<>();
        for (Map.Entry<String, Integer> shard : counts.entrySet()) {
            Path file = directory.resolve(shard.getKey());
            if (!Files.isRegularFile(file)) {
                throw new CheckpointException("shard " + shard.getKey() + " is missing from " + directory + " (" + INDEX
                        + " puts " + shard.getValue() + " tensors in it): download it again");
            }
            files.add(file);
        }
        return files;
    }

    /** Without an index: every *.safetensors; numbered shards must all be there. */
    private static List<Path> shardFiles(Path directory) throws IOException {
        List<Path> files;
        try (Stream<Path> list = Files.list(directory)) {
            files = list.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        }
        if (files.isEmpty()) {
            throw new CheckpointException(directory + " has no .safetensors files (panllama converts safetensors"
                    + " checkpoints, not PyTorch .bin ones)");
        }
        Map<String, TreeSet<Integer>> seen = new TreeMap<>();
        Map<String, Integer> expected = new TreeMap<>();
        for (Path file : files) {
            Matcher m = SHARD.matcher(file.getFileName().toString());
            if (m.matches()) {
                seen.computeIfAbsent(m.group(1), k -> new TreeSet<>()).add(Integer.parseInt(m.group(2)));
                expected.put(m.group(1), Integer.parseInt(m.group(3)));
            }
        }
        for (Map.Entry<String, Integer> group : expected.entrySet()) {
            for (int i = 1; i <= group.getValue(); i++) {
                if (!seen.get(group.getKey()).contains(i)) {
                    throw new CheckpointException(String.format("shard %s-%05d-of-%05d.safetensors is missing from %s:"
                            + " download it again", group.getKey(), i, group.getValue(), directory));
                }
            }
        }
        return files;
    }

    /** Whether {@code file} is one this checkpoint is read from: a shard, or one of its JSON or template files. */
    public boolean readsFrom(Path file) throws IOException {
        Path target = file.toAbsolutePath().normalize();
        List<Path> read = new ArrayList<>();
        shards.forEach(shard -> read.add(shard.path()));
        for (String name : List.of("config.json", INDEX, "tokenizer.json", "tokenizer_config.json",
                "chat_template.jinja", "chat_template.json")) {
            read.add(directory.resolve(name));
        }
        for (Path path : read) {
            if (path.toAbsolutePath().normalize().equals(target)
                    || (Files.exists(path) && Files.exists(target) && Files.isSameFile(path, target))) {
                return true;
            }
        }
        return false;
    }

    public Path directory() {
        return directory;
    }

    public HfConfig config() {
        return config;
    }

    /** Every tensor of every shard, by name. */
    public Map<String, SafetensorsFile.Tensor> tensors() {
        return tensors;
    }

    @Override
    public void close() {
        shards.forEach(SafetensorsFile::close);
    }
}
