package dev.panllama.gguf;

import dev.panllama.bindings.NativeLibraries;
import dev.panllama.bindings.ggml.Ggml;
import dev.panllama.bindings.ggml.gguf_init_params;
import dev.panllama.ggml.GgmlType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Files written by {@link GgufWriter} read back the same through {@link GgufFile} and through ggml's own gguf API. */
class GgufRoundTripTest {

    @TempDir
    Path temp;

    static final class Sample {
        final GgufWriter writer = new GgufWriter();
        final List<String> tensorNames = List.of("token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_norm.weight", "output.weight");
        final List<GgmlType> tensorTypes = List.of(GgmlType.F16, GgmlType.Q4_0, GgmlType.F32, GgmlType.Q4_K);
        final List<long[]> shapes = List.of(new long[] {64, 10}, new long[] {64, 64}, new long[] {64}, new long[] {256, 3, 2});
        final byte[][] data = new byte[4][];

        Sample(long seed) {
            Random random = new Random(seed);
            writer.put("general.architecture", "llama4")
                    .put("general.name", "sample ✓ ünïcode")
                    .put("general.alignment", GgufValue.ofUint32(64))
                    .put("u8", new GgufValue(GgufValueType.UINT8, 250L))
                    .put("i8", new GgufValue(GgufValueType.INT8, -7L))
                    .put("u16", new GgufValue(GgufValueType.UINT16, 65000L))
                    .put("i16", new GgufValue(GgufValueType.INT16, -30000L))
                    .put("u32", GgufValue.ofUint32(4_000_000_000L))
                    .put("i32", GgufValue.ofInt32(-123456))
                    .put("u64", new GgufValue(GgufValueType.UINT64, 1L << 40))
                    .put("i64", new GgufValue(GgufValueType.INT64, -(1L << 50)))
                    .put("f32", GgufValue.ofFloat32(0.125f))
                    .put("f64", new GgufValue(GgufValueType.FLOAT64, Math.PI))
                    .put("bool", GgufValue.ofBool(true))
                    .put("tokens", GgufValue.of(GgufArray.ofStrings("<s>", "a", "ü", "")))
                    .put("scores", GgufValue.of(GgufArray.ofFloats(0f, -1.5f, 2.25f)))
                    .put("types", GgufValue.of(GgufArray.ofInts(GgufValueType.INT32, 1, 2, -3)))
                    .put("bytes", GgufValue.of(GgufArray.ofInts(GgufValueType.UINT8, 0, 255)));
            for (int i = 0; i < tensorNames.size(); i++) {
                GgufTensorInfo info = new GgufTensorInfo(tensorNames.get(i), tensorTypes.get(i), shapes.get(i), 0, 0);
                data[i] = new byte[(int) info.byteSize()];
                random.nextBytes(data[i]);
                writer.tensor(tensorNames.get(i), tensorTypes.get(i), shapes.get(i),
                        GgufWriter.TensorData.of(MemorySegment.ofArray(data[i])));
            }
        }
    }

    @Test
    void readsBackWhatItWrote() throws IOException {
        Sample sample = new Sample(1);
        Path file = temp.resolve("model.gguf");
        sample.writer.write(file);
        try (GgufFile gguf = GgufFile.open(file)) {
            assertEquals(3, gguf.version());
            assertEquals(64, gguf.alignment());
            GgufMetadata metadata = gguf.metadata();
            assertEquals("sample ✓ ünïcode", metadata.getString("general.name"));
            assertEquals(250, metadata.getInt("u8"));
            assertEquals(-7, metadata.getInt("i8"));
            assertEquals(65000, metadata.getInt("u16"));
            assertEquals(-30000, metadata.getInt("i16"));
            assertEquals(4_000_000_000L, metadata.getLong("u32"));
            assertEquals(-123456, metadata.getInt("i32"));
            assertEquals(1L << 40, metadata.getLong("u64"));
            assertEquals(-(1L << 50), metadata.getLong("i64"));
            assertEquals(0.125f, metadata.getFloat("f32"));
            assertEquals(Math.PI, (Double) metadata.find("f64").orElseThrow().value());
            assertEquals(true, metadata.findBool("bool").orElseThrow());
            assertArrayEquals(new String[] {"<s>", "a", "ü", ""}, metadata.getArray("tokens").strings());
            assertArrayEquals(new float[] {0f, -1.5f, 2.25f}, metadata.getArray("scores").floats());
            assertArrayEquals(new int[] {1, 2, -3}, metadata.getArray("types").ints());
            assertArrayEquals(new long[] {0, 255}, metadata.getArray("bytes").integers());

            List<GgufTensorInfo> tensors = gguf.tensors();
            assertEquals(sample.tensorNames, tensors.stream().map(GgufTensorInfo::name).toList());
            for (int i = 0; i < tensors.size(); i++) {
                GgufTensorInfo info = tensors.get(i);
                assertEquals(sample.tensorTypes.get(i), info.type());
                assertArrayEquals(sample.shapes.get(i), info.shape());
                assertEquals(0, info.offset() % 64, "data aligned");
                assertArrayEquals(sample.data[i], gguf.data(info).toArray(ValueLayout.JAVA_BYTE));
            }
        }
    }

    /** Zero tensors are holes in the file: a 64 GiB layout in a few KB of writing, reading back as zeros with its tensors in place. */
    @Test
    void zeroTensorsAreALayoutWithoutTheirBytes() throws IOException {
        Path file = temp.resolve("layout.gguf");
        long[] big = {8192, 8192, 512};   // 2^35 F16 values: 64 GiB
        new GgufWriter().put("general.architecture", "llama4")
                .tensor("small", GgmlType.F32, new long[] {4}, GgufWriter.TensorData.of(MemorySegment.ofArray(new float[] {1, 2, 3, 4})))
                .zeroTensor("big", GgmlType.F16, big)
                .zeroTensor("last", GgmlType.Q4_0, new long[] {64, 2})
                .write(file);
        try (GgufFile gguf = GgufFile.open(file)) {
            GgufTensorInfo layout = gguf.findTensor("big").orElseThrow();
            assertArrayEquals(big, layout.shape());
            GgufTensorInfo last = gguf.findTensor("last").orElseThrow();
            assertEquals(Files.size(file), GgufParser.align(gguf.fileOffset(last) + last.byteSize(), gguf.alignment()),
                    "the file ends where its last tensor's padding does");
            MemorySegment data = gguf.data(layout);
            assertEquals(0, data.get(ValueLayout.JAVA_LONG, 0));
            assertEquals(0, data.get(ValueLayout.JAVA_LONG, data.byteSize() - Long.BYTES));
            assertEquals(3f, gguf.data(gguf.findTensor("small").orElseThrow()).getAtIndex(ValueLayout.JAVA_FLOAT, 2));
        }
    }

    @Test
    void ggmlsOwnReaderSeesTheSameKeysValuesShapesAndBytes() throws IOException {
        Sample sample = new Sample(2);
        Path file = temp.resolve("for-ggml.gguf");
        sample.writer.write(file);
        NativeLibraries.load();
        byte[] fileBytes = Files.readAllBytes(file);
        try (Arena arena = Arena.ofConfined(); GgufFile ours = GgufFile.open(file)) {
            MemorySegment params = gguf_init_params.allocate(arena);
            gguf_init_params.no_alloc(params, true);
            gguf_init_params.ctx(params, MemorySegment.NULL);
            MemorySegment ctx = Ggml.gguf_init_from_file(arena.allocateFrom(file.toString()), params);
            assertFalse(ctx.equals(MemorySegment.NULL), "ggml rejected the file");
            try {
                assertEquals(3, Ggml.gguf_get_version(ctx));
                assertEquals(64, Ggml.gguf_get_alignment(ctx));
                List<String> keys = List.copyOf(ours.metadata().keys());
                assertEquals(keys.size(), Ggml.gguf_get_n_kv(ctx));
                for (int i = 0; i < keys.size(); i++) {
                    String key = cString(Ggml.gguf_get_key(ctx, i));
                    assertEquals(keys.get(i), key);
                    GgufValue value = ours.metadata().find(key).orElseThrow();
                    assertEquals(value.type().id(), Ggml.gguf_get_kv_type(ctx, i), key);
                    switch (value.type()) {
                        case STRING -> assertEquals(value.value(), cString(Ggml.gguf_get_val_str(ctx, i)));
                        case UINT8 -> assertEquals((long) (Long) value.value(), Byte.toUnsignedLong(Ggml.gguf_get_val_u8(ctx, i)));
                        case INT32 -> assertEquals((long) (Long) value.value(), Ggml.gguf_get_val_i32(ctx, i));
                        case UINT32 -> assertEquals((long) (Long) value.value(), Integer.toUnsignedLong(Ggml.gguf_get_val_u32(ctx, i)));
                        case INT64 -> assertEquals((long) (Long) value.value(), Ggml.gguf_get_val_i64(ctx, i));
                        case FLOAT32 -> assertEquals((float) (Float) value.value(), Ggml.gguf_get_val_f32(ctx, i));
                        case FLOAT64 -> assertEquals((double) (Double) value.value(), Ggml.gguf_get_val_f64(ctx, i));
                        case BOOL -> assertEquals(value.value(), Ggml.gguf_get_val_bool(ctx, i));
                        case ARRAY -> {
                            GgufArray array = (GgufArray) value.value();
                            assertEquals(array.elementType().id(), Ggml.gguf_get_arr_type(ctx, i), key);
                            assertEquals(array.length(), Ggml.gguf_get_arr_n(ctx, i), key);
                            if (array.elementType() == GgufValueType.STRING) {
                                for (int j = 0; j < array.length(); j++) {
                                    assertEquals(array.strings()[j], cString(Ggml.gguf_get_arr_str(ctx, i, j)));
                                }
                            }
                        }
                        default -> { }
                    }
                }
                List<GgufTensorInfo> tensors = ours.tensors();
                assertEquals(tensors.size(), Ggml.gguf_get_n_tensors(ctx));
                long dataOffset = Ggml.gguf_get_data_offset(ctx);
                for (int i = 0; i < tensors.size(); i++) {
                    GgufTensorInfo info = tensors.get(i);
                    assertEquals(info.name(), cString(Ggml.gguf_get_tensor_name(ctx, i)));
                    assertEquals(info.type().id(), Ggml.gguf_get_tensor_type(ctx, i));
                    assertEquals(info.byteSize(), Ggml.gguf_get_tensor_size(ctx, i));
                    long at = dataOffset + Ggml.gguf_get_tensor_offset(ctx, i);
                    byte[] ggmlView = java.util.Arrays.copyOfRange(fileBytes, (int) at, (int) (at + info.byteSize()));
                    assertArrayEquals(sample.data[i], ggmlView, info.name());
                }
            } finally {
                Ggml.gguf_free(ctx);
            }
        }
    }

    private static String cString(MemorySegment pointer) {
        return pointer.reinterpret(Long.MAX_VALUE).getString(0);
    }

    @Test
    void splitModelReadsAsOneAndPartsAfterTheFirstAreRefused() throws IOException {
        Sample sample = new Sample(3);
        GgufWriter first = new GgufWriter().put("general.architecture", "llama4")
                .put("split.no", new GgufValue(GgufValueType.UINT16, 0L))
                .put("split.count", new GgufValue(GgufValueType.UINT16, 2L));
        GgufWriter second = new GgufWriter()
                .put("split.no", new GgufValue(GgufValueType.UINT16, 1L))
                .put("split.count", new GgufValue(GgufValueType.UINT16, 2L));
        for (int i = 0; i < 4; i++) {
            (i < 2 ? first : second).tensor(sample.tensorNames.get(i), sample.tensorTypes.get(i), sample.shapes.get(i),
                    GgufWriter.TensorData.of(MemorySegment.ofArray(sample.data[i])));
        }
        first.write(temp.resolve("m-00001-of-00002.gguf"));
        second.write(temp.resolve("m-00002-of-00002.gguf"));
        try (GgufFile gguf = GgufFile.open(temp.resolve("m-00001-of-00002.gguf"))) {
            assertEquals(2, gguf.parts().size());
            assertEquals(sample.tensorNames, gguf.tensors().stream().map(GgufTensorInfo::name).toList());
            for (int i = 0; i < 4; i++) {
                assertArrayEquals(sample.data[i], gguf.data(gguf.tensor(sample.tensorNames.get(i))).toArray(ValueLayout.JAVA_BYTE));
            }
        }
        var error = assertThrows(GgufException.class, () -> GgufFile.open(temp.resolve("m-00002-of-00002.gguf")));
        assertTrue(error.getMessage().contains("m-00001-of-00002.gguf"), error.getMessage());

        Files.delete(temp.resolve("m-00002-of-00002.gguf"));
        error = assertThrows(GgufException.class, () -> GgufFile.open(temp.resolve("m-00001-of-00002.gguf")));
        assertTrue(error.getMessage().contains("no such file"), error.getMessage());
    }

    @Test
    void closingUnmapsAndDataRefusesUseAfterwards() throws IOException {
        Sample sample = new Sample(4);
        Path file = temp.resolve("closed.gguf");
        sample.writer.write(file);
        GgufFile gguf = GgufFile.open(file);
        MemorySegment data = gguf.data(gguf.tensors().getFirst());
        gguf.close();
        assertThrows(IllegalStateException.class, () -> data.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void nestedArraysAreRefusedBecauseGgmlCannotReadThem() {
        GgufValue nested = GgufValue.of(new GgufArray(GgufValueType.ARRAY, List.of(GgufArray.ofStrings("x"))));
        var error = assertThrows(IllegalArgumentException.class, () -> new GgufWriter().put("nested", nested));
        assertTrue(error.getMessage().contains("nested"), error.getMessage());
    }

    @Test
    void aFailedWriteLeavesNothingBehind() throws IOException {
        Path target = temp.resolve("fails.gguf");
        Files.writeString(target, "the user's file");
        GgufWriter writer = new GgufWriter().put("general.architecture", "llama")
                .tensor("t", GgmlType.F32, new long[] {4}, out -> out.write(java.nio.ByteBuffer.allocate(3)));
        assertThrows(IOException.class, () -> writer.write(target));
        assertEquals("the user's file", Files.readString(target));
        try (var files = Files.list(temp)) {
            assertEquals(List.of(target), files.toList());
        }
    }
}
