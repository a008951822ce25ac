package dev.panllama.gguf;

import java.io.IOException;
import dev.panllama.ggml.NativeResources;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An open GGUF model: one file, or every part of a split model ({@code NAME-00001-of-0000N.gguf})
 * read as one. The files are memory-mapped into this object's arena; tensor data is handed out as
 * slices of the mapping, never copied. Closing unmaps them, after which every slice refuses access.
 */
public final class GgufFile implements AutoCloseable {

    private static final Pattern SPLIT = Pattern.compile("(.*)-(\\d{5})-of-(\\d{5})\\.gguf");
    static final String SPLIT_COUNT_KEY = "split.count";

    private final Arena arena;
    private final List<Path> parts;
    private final List<MemorySegment> mappings;
    private final List<Long> dataOffsets;
    private final int version;
    private final int alignment;
    private final GgufMetadata metadata;
    private final Map<String, GgufTensorInfo> tensors;

    private GgufFile(Arena arena, List<Path> parts, List<MemorySegment> mappings, List<Long> dataOffsets, int version,
                     int alignment, GgufMetadata metadata, Map<String, GgufTensorInfo> tensors) {
        this.arena = arena;
        this.parts = parts;
        this.mappings = mappings;
        this.dataOffsets = dataOffsets;
        this.version = version;
        this.alignment = alignment;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    /**
     * Opens {@code path}; for the first part of a split model, opens every part.
     *
     * @throws GgufException when a file is missing, unreadable or not a valid GGUF
     */
    public static GgufFile open(Path path) {
        return open(partsOf(path), true);
    }

    /** Opens one part of a split model on its own (its tensors only), or any single file. */
    public static GgufFile openPart(Path path) {
        return open(List.of(path), false);
    }

    private static GgufFile open(List<Path> parts, boolean checkSplit) {
        Arena arena = NativeResources.openArena();
        try {
            List<MemorySegment> mappings = new ArrayList<>();
            List<Long> dataOffsets = new ArrayList<>();
            Map<String, GgufTensorInfo> tensors = new LinkedHashMap<>();
            GgufParser.Parsed first = null;
            for (int part = 0; part < parts.size(); part++) {
                Path file = parts.get(part);
                MemorySegment mapped = map(file, arena);
                GgufParser.Parsed parsed = GgufParser.parse(file, mapped, part);
                if (first == null) {
                    first = parsed;
                    if (checkSplit) {
                        checkSplitCount(file, parsed.metadata(), parts.size());
                    }
                }
                for (GgufTensorInfo info : parsed.tensors()) {
                    if (tensors.putIfAbsent(info.name(), info) != null) {
                        throw new GgufException(file + ": tensor " + info.name() + " appears in two parts of the split model");
                    }
                }
                mappings.add(mapped);
                dataOffsets.add(parsed.dataOffset());
            }
            return new GgufFile(arena, parts, List.copyOf(mappings), List.copyOf(dataOffsets), first.version(), first.alignment(),
                    first.metadata(), Collections.unmodifiableMap(tensors));
        } catch (RuntimeException e) {
            NativeResources.close(arena);
            throw e;
        }
    }

    private static List<Path> partsOf(Path path) {
        Matcher split = SPLIT.matcher(path.getFileName().toString());
        if (!split.matches()) {
            return List.of(path);
        }
        int count = Integer.parseInt(split.group(3));
        if (!split.group(2).equals("00001")) {
            throw new GgufException(path + " is part " + Integer.parseInt(split.group(2)) + " of " + count
                    + " of a split model; open the first part, " + split.group(1) + "-00001-of-" + split.group(3) + ".gguf");
        }
        List<Path> parts = new ArrayList<>();
        for (int i = 1; i <= count; i++) {
            parts.add(path.resolveSibling(String.format("%s-%05d-of-%s.gguf", split.group(1), i, split.group(3))));
        }
        return parts;
    }

    private static void checkSplitCount(Path file, GgufMetadata metadata, int expected) {
        int declared = metadata.findInt(SPLIT_COUNT_KEY).orElse(1);
        if (declared != expected && !(declared == 0 && expected == 1)) {
            throw new GgufException(file + ": " + SPLIT_COUNT_KEY + " says " + declared + " parts, the file name says " + expected);
        }
    }

    private static MemorySegment map(Path file, Arena arena) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            return channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
        } catch (NoSuchFileException e) {
            throw new GgufException(file + ": no such file");
        } catch (IOException e) {
            throw new GgufException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    public int version() {
        return version;
    }

    public int alignment() {
        return alignment;
    }

    public List<Path> parts() {
        return parts;
    }

    public GgufMetadata metadata() {
        return metadata;
    }

    /** Every tensor, in file order (part by part). */
    public List<GgufTensorInfo> tensors() {
        return List.copyOf(tensors.values());
    }

    public Optional<GgufTensorInfo> findTensor(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    public GgufTensorInfo tensor(String name) {
        GgufTensorInfo info = tensors.get(name);
        if (info == null) {
            throw new GgufException(parts.getFirst() + ": missing tensor " + name);
        }
        return info;
    }

    /** The tensor's bytes, a slice of the mapped file. */
    public MemorySegment data(GgufTensorInfo info) {
        return mappings.get(info.part()).asSlice(fileOffset(info), info.byteSize());
    }

    /** The whole mapping of one part (page-aligned): what a backend buffer wraps to use the weights in place. */
    public MemorySegment mapping(int part) {
        return mappings.get(part);
    }

    /** Where the tensor's data starts in its part's file. */
    public long fileOffset(GgufTensorInfo info) {
        return dataOffsets.get(info.part()) + info.offset();
    }

    /** Where the tensor data of part {@code part} starts: its header (metadata and tensor list) is what comes before. */
    long dataOffset(int part) {
        return dataOffsets.get(part);
    }

    /** Total size of all parts in bytes. */
    public long fileBytes() {
        long total = 0;
        for (Path part : parts) {
            try {
                total += Files.size(part);
            } catch (IOException e) {
                throw new GgufException(part + ": cannot read its size", e);
            }
        }
        return total;
    }

    @Override
    public void close() {
        NativeResources.close(arena);
    }
}
