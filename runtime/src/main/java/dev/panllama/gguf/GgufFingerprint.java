package dev.panllama.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * What tells one model file from another without reading its gigabytes: the size of all its parts and
 * a SHA-256 of every part's header (metadata and tensor list) and of the first bytes of each tensor.
 * Two files with the same tensors of other values (another seed, another fine-tune) differ in those
 * first bytes; reading them touches one page per tensor.
 */
public record GgufFingerprint(long bytes, String sha256) {

    /** Bytes of each tensor's data that go into the hash. */
    static final int TENSOR_SAMPLE_BYTES = 4096;

    public static GgufFingerprint of(GgufFile file) {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
        for (int part = 0; part < file.parts().size(); part++) {
            digest.update(file.mapping(part).asSlice(0, file.dataOffset(part)).asByteBuffer());
        }
        for (GgufTensorInfo tensor : file.tensors()) {
            MemorySegment data = file.data(tensor);
            digest.update(data.asSlice(0, Math.min(data.byteSize(), TENSOR_SAMPLE_BYTES)).toArray(ValueLayout.JAVA_BYTE));
        }
        return new GgufFingerprint(file.fileBytes(), HexFormat.of().formatHex(digest.digest()));
    }
}
