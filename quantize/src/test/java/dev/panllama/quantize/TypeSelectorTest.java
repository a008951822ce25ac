package dev.panllama.quantize;

import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufTensorInfo;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * llama-quantize's per-tensor choice, rule by rule (llama.cpp's {@code llama_tensor_get_type}); the
 * parity suite checks whole files against llama-quantize itself.
 */
class TypeSelectorTest {

    private static final int LAYERS = 32;

    private static GgufTensorInfo tensor(String name, long... shape) {
        return new GgufTensorInfo(name, shape.length == 1 ? GgmlType.F32 : GgmlType.F16, shape, 0, 0);
    }

    private static TypeSelector selector(FileType type, boolean pure, boolean tied) {
        return new TypeSelector(new TypeSelector.Model("llama", LAYERS, 32, 8, 0, tied, LAYERS),
                new TypeSelector.Options(type, pure, null, null, false));
    }

    /** Q4_K_M gives ffn_down Q6_K in the first and last eighth of the layers and every third between. */
    @Test
    void q4KMGivesSomeFeedForwardDownLayersMoreBits() {
        TypeSelector selector = selector(FileType.Q4_K_M, false, false);
        List<Integer> bumped = new ArrayList<>();
        for (int layer = 0; layer < LAYERS; layer++) {
            if (selector.select(tensor("blk." + layer + ".ffn_down.weight", 4096, 4096)) == GgmlType.Q6_K) {
                bumped.add(layer);
            }
        }
        assertEquals(List.of(0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31), bumped);
    }

    @Test
    void outputAndEmbeddingTypes() {
        TypeSelector untied = selector(FileType.Q4_K_M, false, false);
        assertEquals(GgmlType.Q6_K, untied.select(tensor("output.weight", 4096, 128256)));
        assertEquals(GgmlType.Q4_K, untied.select(tensor("token_embd.weight", 4096, 128256)));
        TypeSelector tied = selector(FileType.Q4_K_M, false, true);
        assertEquals(GgmlType.Q6_K, tied.select(tensor("token_embd.weight", 4096, 128256)), "a tied embedding is the output head");
    }

    @Test
    void normsAndTheRouterKeepTheirType() {
        TypeSelector selector = selector(FileType.Q4_0, false, false);
        assertEquals(GgmlType.F32, selector.select(tensor("blk.0.attn_norm.weight", 4096)));
        assertEquals(GgmlType.F16, selector.select(tensor("blk.0.ffn_gate_inp.weight", 4096, 16)));
        assertEquals(GgmlType.Q4_0, selector.select(tensor("blk.0.attn_q.weight", 4096, 4096)));
    }

    @Test
    void pureGivesEveryWeightTheFileType() {
        TypeSelector selector = selector(FileType.Q4_K_M, true, false);
        assertEquals(GgmlType.Q4_K, selector.select(tensor("blk.0.ffn_down.weight", 4096, 4096)));
        assertEquals(GgmlType.Q4_K, selector.select(tensor("blk.0.attn_v.weight", 4096, 1024)));
    }

    /** Rows a block type cannot divide fall back to a 32-block type, else F16. */
    @Test
    void rowsNoBlockDividesFallBack() {
        TypeSelector selector = selector(FileType.Q4_K_S, true, false);
        assertEquals(GgmlType.Q5_0, selector.select(tensor("blk.0.attn_q.weight", 320, 320)));
        assertEquals(GgmlType.F16, selector.select(tensor("blk.0.attn_k.weight", 100, 320)));
    }

    @Test
    void llamaOrderPutsModelWideTensorsFirstThenLayersByNumber() {
        List<String> names = new ArrayList<>(List.of("blk.10.attn_q.weight", "output.weight", "blk.2.ffn_up.weight",
                "blk.2.attn_k.weight", "token_embd.weight"));
        names.sort(TypeSelector.llamaOrder(n -> n));
        assertEquals(List.of("output.weight", "token_embd.weight", "blk.2.attn_k.weight", "blk.2.ffn_up.weight",
                "blk.10.attn_q.weight"), names);
    }
}
