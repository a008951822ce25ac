package dev.panllama.gguf;

import dev.panllama.ggml.GgmlType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Malformed and hostile files: each fails with a {@link GgufException} that names the problem and,
 * where it has one, the byte offset; nothing crashes the JVM or allocates without bound.
 */
class GgufHostileInputTest {

    @TempDir
    Path temp;

    private static final Path NAME = Path.of("hostile.gguf");

    /** Builds GGUF bytes by hand, so that any field can be made wrong. */
    private static final class Bytes {
        private final ByteBuffer buffer = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        Bytes u32(long v) {
            buffer.putInt((int) v);
            return this;
        }

        Bytes u64(long v) {
            buffer.putLong(v);
            return this;
        }

        Bytes u8(int v) {
            buffer.put((byte) v);
            return this;
        }

        Bytes str(String s) {
            byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
            u64(utf8.length);
            buffer.put(utf8);
            return this;
        }

        Bytes header(long tensors, long kvs) {
            return u32(GgufParser.MAGIC).u32(3).u64(tensors).u64(kvs);
        }

        Bytes pad(int to) {
            while (buffer.position() % to != 0) {
                buffer.put((byte) 0);
            }
            return this;
        }

        Bytes zeros(int n) {
            buffer.put(new byte[n]);
            return this;
        }

        byte[] get() {
            byte[] out = new byte[buffer.position()];
            buffer.flip().get(out);
            return out;
        }
    }

    private static GgufParser.Parsed parse(byte[] bytes) {
        return GgufParser.parse(NAME, MemorySegment.ofArray(bytes), 0);
    }

    private static void assertRejected(byte[] bytes, String... fragments) {
        GgufException error = assertThrows(GgufException.class, () -> parse(bytes));
        for (String fragment : fragments) {
            assertTrue(error.getMessage().contains(fragment), "expected '" + fragment + "' in: " + error.getMessage());
        }
    }

    @Test
    void wellFormedHandMadeFileParses() {
        byte[] bytes = new Bytes().header(1, 1).str("general.architecture").u32(8).str("llama")
                .str("w").u32(1).u64(8).u32(0).u64(0).pad(32).zeros(32).get();
        GgufParser.Parsed parsed = parse(bytes);
        assertEquals("llama", parsed.metadata().getString("general.architecture"));
        assertEquals(1, parsed.tensors().size());
    }

    @Test
    void nestedArraysAreReadAsTheFormatAllows() {
        byte[] bytes = new Bytes().header(0, 1).str("nested").u32(9).u32(9).u64(2)
                .u32(4).u64(1).u32(7)
                .u32(8).u64(1).str("x").get();
        GgufArray outer = parse(bytes).metadata().getArray("nested");
        assertEquals(2, outer.length());
    }

    @Test
    void badMagic() {
        assertRejected("GGML\u0003\0\0\0".getBytes(StandardCharsets.ISO_8859_1), "not a GGUF file", "byte 0");
        assertRejected(new byte[0], "not a GGUF file");
    }

    @Test
    void versions() {
        assertRejected(new Bytes().u32(GgufParser.MAGIC).u32(1).u64(0).u64(0).get(), "version 1", "byte 4");
        assertRejected(new Bytes().u32(GgufParser.MAGIC).u32(7).u64(0).u64(0).get(), "unknown GGUF version 7");
        assertRejected(new Bytes().u32(GgufParser.MAGIC).u32(3L << 24).u64(0).u64(0).get(), "big-endian");
    }

    @Test
    void truncatedHeader() {
        assertRejected(new Bytes().u32(GgufParser.MAGIC).u32(3).u32(0).get(), "truncated", "byte 8");
    }

    @Test
    void countsThatCannotFit() {
        assertRejected(new Bytes().header(Long.MAX_VALUE, 0).get(), "tensor count", "byte 8");
        assertRejected(new Bytes().header(0, -1).get(), "metadata count", "byte 16");
        assertRejected(new Bytes().header(0, 1_000_000).get(), "metadata count");
    }

    @Test
    void stringLengthsThatOverflow() {
        assertRejected(new Bytes().header(0, 1).u64(-1).zeros(16).get(), "string length", "byte 24");
        assertRejected(new Bytes().header(0, 1).u64(1L << 40).zeros(16).get(), "past the end", "byte 24");
    }

    @Test
    void arraysLongerThanTheFile() {
        assertRejected(new Bytes().header(0, 1).str("a").u32(9).u32(4).u64(1L << 60).get(), "length of array a");
        assertRejected(new Bytes().header(0, 1).str("a").u32(9).u32(8).u64(3).u64(1).get(), "truncated");
    }

    @Test
    void deeplyNestedArrays() {
        Bytes bytes = new Bytes().header(0, 1).str("deep").u32(9);
        for (int i = 0; i < 100; i++) {
            bytes.u32(9).u64(1);
        }
        assertRejected(bytes.get(), "nested deeper");
    }

    @Test
    void unknownValueType() {
        assertRejected(new Bytes().header(0, 1).str("k").u32(13).get(), "unknown value type 13", "byte 33");
    }

    @Test
    void duplicateKey() {
        assertRejected(new Bytes().header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).get(), "duplicate metadata key k");
    }

    @Test
    void badBoolean() {
        assertRejected(new Bytes().header(0, 1).str("b").u32(7).u8(2).get(), "boolean");
    }

    @Test
    void badAlignment() {
        assertRejected(new Bytes().header(0, 1).str("general.alignment").u32(4).u32(48).get(), "power of two");
        assertRejected(new Bytes().header(0, 1).str("general.alignment").u32(8).str("32").get(), "power of two");
    }

    private static Bytes tensorHeader(String name, int dims) {
        return new Bytes().header(1, 0).str(name).u32(dims);
    }

    @Test
    void tensorInfosThatLie() {
        assertRejected(tensorHeader("t", 5).zeros(64).get(), "5 dimensions");
        assertRejected(tensorHeader("t", 0).zeros(64).get(), "0 dimensions");
        assertRejected(tensorHeader("t", 1).u64(-4).zeros(64).get(), "negative dimension");
        assertRejected(tensorHeader("t", 3).u64(1L << 40).u64(1L << 40).u64(1L << 40).zeros(64).get(), "64 bits");
        assertRejected(tensorHeader("t", 1).u64(8).u32(99).u64(0).zeros(64).get(), "unknown ggml type 99");
        assertRejected(tensorHeader("t", 1).u64(8).u32(4).u64(0).zeros(64).get(), "unknown ggml type 4");
        assertRejected(tensorHeader("t", 1).u64(31).u32(GgmlType.Q4_0.id()).u64(0).zeros(64).get(), "multiple of", "block");
        assertRejected(tensorHeader("t", 1).u64(8).u32(0).u64(7).zeros(64).get(), "not a multiple of the alignment");
        assertRejected(tensorHeader("t", 1).u64(8).u32(0).u64(64).pad(32).zeros(32).get(), "outside the file");
        assertRejected(tensorHeader("t", 1).u64(1024).u32(0).u64(0).pad(32).zeros(32).get(), "outside the file", "truncated");
        assertRejected(tensorHeader("x".repeat(64), 1).zeros(64).get(), "longer than 63");
    }

    @Test
    void duplicateTensorName() {
        byte[] bytes = new Bytes().header(2, 0)
                .str("t").u32(1).u64(8).u32(0).u64(0)
                .str("t").u32(1).u64(8).u32(0).u64(32).pad(32).zeros(64).get();
        assertRejected(bytes, "duplicate tensor name t");
    }

    @Test
    void missingFileAndDirectory() {
        assertThrows(GgufException.class, () -> GgufFile.open(temp.resolve("absent.gguf")));
        GgufException error = assertThrows(GgufException.class, () -> GgufFile.open(temp));
        assertTrue(error.getMessage().contains(temp.toString()), error.getMessage());
    }

    @Test
    void everyTruncationOfAValidFileIsRejected() throws IOException {
        byte[] valid = validModel(7);
        parse(valid);
        for (int length = 0; length < valid.length - 1; length++) {
            byte[] truncated = java.util.Arrays.copyOf(valid, length);
            try {
                GgufParser.Parsed parsed = parse(truncated);
                // Only the trailing padding after the last tensor's data may be cut without harm.
                assertTrue(length >= dataEnd(parsed), "truncated to " + length + " bytes yet parsed");
            } catch (GgufException expected) {
                // the point
            }
        }
    }

    private static long dataEnd(GgufParser.Parsed parsed) {
        long end = 0;
        for (GgufTensorInfo info : parsed.tensors()) {
            end = Math.max(end, parsed.dataOffset() + info.offset() + info.byteSize());
        }
        return end;
    }

    /** Thousands of mutated files: each one parses or is rejected with a GgufException, nothing else. */
    @Test
    void fuzzedFilesFailCleanly() throws IOException {
        Random random = new Random(20261126);
        byte[] valid = validModel(11);
        int rejected = 0;
        for (int round = 0; round < 5000; round++) {
            byte[] mutated = valid.clone();
            int edits = 1 + random.nextInt(8);
            for (int e = 0; e < edits; e++) {
                int at = random.nextInt(mutated.length);
                switch (random.nextInt(4)) {
                    case 0 -> mutated[at] = (byte) random.nextInt(256);
                    case 1 -> mutated[at] ^= (byte) (1 << random.nextInt(8));
                    case 2 -> mutated[at] = (byte) (random.nextBoolean() ? 0xFF : 0x7F);
                    default -> mutated = java.util.Arrays.copyOf(mutated, at);
                }
                if (mutated.length == 0) {
                    break;
                }
            }
            try {
                parse(mutated);
            } catch (GgufException expected) {
                rejected++;
            } catch (RuntimeException | OutOfMemoryError | StackOverflowError other) {
                fail("round " + round + ": " + other, other);
            }
        }
        assertTrue(rejected > 1000, "most mutations should be caught, only " + rejected + " were");
    }

    private static byte[] validModel(long seed) throws IOException {
        Random random = new Random(seed);
        GgufWriter writer = new GgufWriter()
                .put("general.architecture", "llama")
                .put("llama.block_count", GgufValue.ofUint32(1))
                .put("tokenizer.ggml.tokens", GgufValue.of(GgufArray.ofStrings("a", "b", "c")))
                .put("tokenizer.ggml.scores", GgufValue.of(GgufArray.ofFloats(1, 2, 3)));
        for (String name : new String[] {"a.weight", "b.weight"}) {
            byte[] data = new byte[(int) GgmlType.Q8_0.rowBytes(64) * 2];
            random.nextBytes(data);
            writer.tensor(name, GgmlType.Q8_0, new long[] {64, 2}, GgufWriter.TensorData.of(MemorySegment.ofArray(data)));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writer.write(Channels.newChannel(out));
        return out.toByteArray();
    }

    @Test
    void mappedHostileFileFailsTheSameWay() throws IOException {
        Path file = temp.resolve("truncated.gguf");
        byte[] valid = validModel(3);
        Files.write(file, java.util.Arrays.copyOf(valid, valid.length / 2));
        GgufException error = assertThrows(GgufException.class, () -> GgufFile.open(file));
        assertTrue(error.getMessage().startsWith(file.toString()), error.getMessage());
    }
}
