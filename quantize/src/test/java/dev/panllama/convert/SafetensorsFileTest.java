package dev.panllama.convert;

import dev.panllama.ggml.NativeResources;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Reading safetensors files, and refusing broken or hostile ones with a CheckpointException, never a crash. */
class SafetensorsFileTest {

    @TempDir
    Path temp;

    /** A file with one tensor per dtype: 2x3 F32 0..5, 3 F16 (1, -2, 0.5), 2 BF16 (3, -0.25). */
    private byte[] sample() {
        String header = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                + "\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[24,30]},"
                + "\"c\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[30,34]}}";
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer file = ByteBuffer.allocate(8 + json.length + 34).order(ByteOrder.LITTLE_ENDIAN);
        file.putLong(json.length).put(json);
        for (int i = 0; i < 6; i++) {
            file.putFloat(i);
        }
        file.putShort(Float.floatToFloat16(1)).putShort(Float.floatToFloat16(-2)).putShort(Float.floatToFloat16(0.5f));
        file.putShort((short) (Float.floatToIntBits(3) >>> 16)).putShort((short) (Float.floatToIntBits(-0.25f) >>> 16));
        return file.array();
    }

    private Path write(byte[] bytes) throws IOException {
        return Files.write(Files.createTempFile(temp, "t", ".safetensors"), bytes);
    }

    @Test
    void readsEveryFloatType() throws IOException {
        try (SafetensorsFile file = SafetensorsFile.open(write(sample()))) {
            SafetensorsFile.Tensor a = file.tensors().get("a");
            assertArrayEquals(new long[] {2, 3}, a.shape());
            assertEquals(5f, a.get(5));
            SafetensorsFile.Tensor b = file.tensors().get("b");
            assertEquals(-2f, b.get(1));
            assertEquals(0.5f, b.get(2));
            assertEquals(-0.25f, file.tensors().get("c").get(1));
            assertEquals(3, file.tensors().size(), "__metadata__ is not a tensor");
        }
    }

    @Test
    void theMappingIsCountedAsANativeResourceUntilClosed() throws IOException {
        int before = NativeResources.live();
        SafetensorsFile file = SafetensorsFile.open(write(sample()));
        assertEquals(before + 1, NativeResources.live());
        file.close();
        assertEquals(before, NativeResources.live(), "closing the file frees its mapping");
        file.close();
        assertEquals(before, NativeResources.live(), "closing twice does nothing");
        assertRefused(java.util.Arrays.copyOf(sample(), 40), "truncated");
        assertThrows(IOException.class, () -> SafetensorsFile.open(temp.resolve("missing.safetensors")));
        assertEquals(before, NativeResources.live(), "a refused or missing file leaves nothing open");
    }

    @Test
    void refusesBrokenFiles() throws IOException {
        assertRefused(new byte[] {1, 2, 3}, "not a safetensors file");
        byte[] huge = sample();
        ByteBuffer.wrap(huge).order(ByteOrder.LITTLE_ENDIAN).putLong(0, Long.MAX_VALUE);
        assertRefused(huge, "truncated");
        assertRefused(replace("\"F32\"", "\"Q4\" "), "unknown dtype");
        assertRefused(replace("[2,3]", "[2,4]"), "needs 32 bytes, its data has 24");
        assertRefused(replace("[30,34]", "[30,99]"), "outside the file");
        assertRefused(replace("[24,30]", "[30,24]"), "outside the file");
        assertRefused(replace("{\"__metadata__\"", "[\"__metadata__\""), "not JSON");
        byte[] truncated = sample();
        assertRefused(java.util.Arrays.copyOf(truncated, truncated.length - 10), "outside the file");
    }

    /** The sample with one piece of its header replaced by another of the same length. */
    private byte[] replace(String from, String to) {
        assertEquals(from.length(), to.length());
        String text = new String(sample(), StandardCharsets.ISO_8859_1);
        assertTrue(text.contains(from), from);
        return text.replace(from, to).getBytes(StandardCharsets.ISO_8859_1);
    }

    private void assertRefused(byte[] bytes, String message) throws IOException {
        Path file = write(bytes);
        CheckpointException e = assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file).close());
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }

    @Test
    void randomMutationsGiveCheckpointExceptionsOnly() throws IOException {
        Random random = new Random(7);
        byte[] original = sample();
        for (int round = 0; round < 3000; round++) {
            byte[] bytes = original.clone();
            for (int flips = 1 + random.nextInt(4); flips > 0; flips--) {
                bytes[random.nextInt(Math.min(bytes.length, 8 + 200))] = (byte) random.nextInt(256);
            }
            Path file = write(bytes);
            try (SafetensorsFile opened = SafetensorsFile.open(file)) {
                for (SafetensorsFile.Tensor tensor : opened.tensors().values()) {
                    if (tensor.dtype().convertible()) {
                        for (long i = 0; i < tensor.elements(); i++) {
                            tensor.get(i);
                        }
                    }
                }
            } catch (CheckpointException expected) {
                // refused with a message: what a broken file must give
            } catch (RuntimeException e) {
                fail("round " + round + ": " + e, e);
            }
            Files.delete(file);
        }
    }
}
