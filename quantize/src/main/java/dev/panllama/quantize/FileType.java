package dev.panllama.quantize;

import dev.panllama.ggml.GgmlType;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The quantization mixes {@code panllama quantize} makes, by llama.cpp's names and {@code general.file_type}
 * numbers: each names a default tensor type, and the _S/_M/_L mixes bump some tensors to more bits.
 * Only the mixes ggml can make without an importance matrix.
 */
public enum FileType {
    F32(0, GgmlType.F32),
    F16(1, GgmlType.F16),
    BF16(32, GgmlType.BF16),
    Q4_0(2, GgmlType.Q4_0),
    Q4_1(3, GgmlType.Q4_1),
    Q5_0(8, GgmlType.Q5_0),
    Q5_1(9, GgmlType.Q5_1),
    Q8_0(7, GgmlType.Q8_0),
    Q2_K(10, GgmlType.Q2_K),
    Q3_K_S(11, GgmlType.Q3_K),
    Q3_K_M(12, GgmlType.Q3_K),
    Q3_K_L(13, GgmlType.Q3_K),
    Q4_K_S(14, GgmlType.Q4_K),
    Q4_K_M(15, GgmlType.Q4_K),
    Q5_K_S(16, GgmlType.Q5_K),
    Q5_K_M(17, GgmlType.Q5_K),
    Q6_K(18, GgmlType.Q6_K),
    IQ4_NL(25, GgmlType.IQ4_NL),
    IQ4_XS(30, GgmlType.IQ4_XS),
    TQ1_0(36, GgmlType.TQ1_0),
    TQ2_0(37, GgmlType.TQ2_0);

    private final int id;
    private final GgmlType defaultType;

    FileType(int id, GgmlType defaultType) {
        this.id = id;
        this.defaultType = defaultType;
    }

    /** llama.cpp's {@code llama_ftype} number, written as {@code general.file_type}. */
    public int id() {
        return id;
    }

    /** The type of the tensors the mix does not treat specially. */
    public GgmlType defaultType() {
        return defaultType;
    }

    /**
     * The mix named {@code name} (case-insensitive).
     *
     * @throws IllegalArgumentException naming the known ones
     */
    public static FileType of(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown quantization type '" + name + "'; panllama makes: "
                    + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", ")));
        }
    }
}
