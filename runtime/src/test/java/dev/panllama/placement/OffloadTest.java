package dev.panllama.placement;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OffloadTest {

    @Test
    void gpuLayersCountFromTheOutputLayerBackwards() {
        // 4 layers and the output layer (index 4): -ngl N offloads the last N of those five.
        assertEquals(0, Offload.all().firstOffloadedLayer(4));
        assertEquals(0, Offload.all().withGpuLayers(5).firstOffloadedLayer(4));
        assertEquals(0, Offload.all().withGpuLayers(99).firstOffloadedLayer(4));
        assertEquals(2, Offload.all().withGpuLayers(3).firstOffloadedLayer(4));
        assertEquals(4, Offload.all().withGpuLayers(1).firstOffloadedLayer(4));
        assertEquals(5, Offload.all().withGpuLayers(0).firstOffloadedLayer(4));
    }

    @Test
    void overridesParseAsLlamaCppsAndSearchRatherThanMatch() {
        List<Offload.TensorOverride> parsed = Offload.TensorOverride.parse("exps=CPU,blk\\.0\\.attn_q=RPC0[127.0.0.1:5000]");
        assertEquals(2, parsed.size());
        assertEquals("CPU", parsed.get(0).buffer());
        assertEquals("RPC0[127.0.0.1:5000]", parsed.get(1).buffer());
        assertTrue(parsed.get(0).matches("blk.3.ffn_up_exps.weight"));
        assertFalse(parsed.get(0).matches("blk.3.ffn_up_shexp.weight"));
        assertTrue(parsed.get(1).matches("blk.0.attn_q.weight"));
        assertFalse(parsed.get(1).matches("blk.10.attn_q.weight"));
    }

    @Test
    void badOptionsAreMessagesThatNameTheOption() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Offload.TensorOverride.parse("exps"))
                .getMessage().startsWith("--override-tensor takes PATTERN=BUFFER"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Offload.TensorOverride.parse("(=CPU"))
                .getMessage().contains("not a regular expression"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Offload.all().withCpuMoeLayers(-1))
                .getMessage().startsWith("--n-cpu-moe"));
        for (String split : new String[] {"3,x", "1,-1", "0,0", "NaN,1"}) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> Offload.all().withTensorSplit(Offload.parseTensorSplit(split)))
                    .getMessage().startsWith("--tensor-split"), split);
        }
    }

    @Test
    void tensorSplitsParseAsLlamaCppsAndTravelWithTheOtherOptions() {
        assertEquals(List.of(3.0, 1.0), Offload.parseTensorSplit("3,1"));
        assertEquals(List.of(0.5, 0.25, 0.25), Offload.parseTensorSplit("0.5/0.25/0.25"));
        Offload split = Offload.all().withTensorSplit(List.of(3.0, 1.0));
        assertEquals(List.of(3.0, 1.0), split.withGpuLayers(4).withCpuMoe(true).withCpuMoeLayers(2).withOverrides(List.of()).tensorSplit());
        assertEquals(List.of(), Offload.all().tensorSplit());
    }
}
