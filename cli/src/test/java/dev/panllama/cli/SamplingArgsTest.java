package dev.panllama.cli;

import dev.panllama.sampling.AdaptiveP;
import dev.panllama.sampling.SamplerOrder;
import dev.panllama.sampling.SamplerOrder.Stage;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplingArgsTest {

    private static SamplingArgs parse(String... args) {
        return CommandLine.populateCommand(new SamplingArgs(), args);
    }

    @Test
    void logitBiasesAreWrittenAsLlamaCppWritesThemAndAddUpPerToken() {
        Map<Integer, Float> biases = parse("-l", "15043+1", "--logit-bias", "15043+0.5", "--logit-bias", "7-inf", "-l", "9-2.5e0")
                .options().logitBias();
        assertEquals(Map.of(15043, 1.5f, 7, Float.NEGATIVE_INFINITY, 9, -2.5f), biases);
        assertTrue(parse().options().logitBias().isEmpty());
    }

    @Test
    void theSamplersOrderIsReadAsLlamaCppReadsIt() {
        assertEquals(SamplerOrder.DEFAULT, parse().options().order());
        assertEquals(SamplerOrder.DEFAULT, parse("--sampler-seq", "edskypmxt").options().order());
        assertEquals(List.of(Stage.TOP_K, Stage.TEMPERATURE, Stage.TOP_P),
                parse("--samplers", "top_k;temp;Nucleus").options().order().stages());
        assertEquals(List.of(Stage.MIN_P, Stage.TYPICAL_P), parse("--sampling-seq", "my").options().order().stages());
        assertEquals(List.of(), parse("--samplers", "").options().order().stages());
        assertEquals(SamplerOrder.DEFAULT, parse("--samplers", "top_k", "--greedy").options().order(), "greedy takes the most likely token");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--samplers", "top_k;infill").options())
                .getMessage().contains("infill sampler is not supported"));
        assertEquals(new AdaptiveP(0.4f, 0.99f), parse("--samplers", "min_p;adaptive-p", "--adaptive-target", "0.4", "--adaptive-decay", "2")
                .options().adaptiveP(), "the decay taken within [0, 0.99], as llama.cpp takes it");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--sampler-seq", "kq").options())
                .getMessage().startsWith("no sampler letter 'q'; the samplers are penalties (e), dry (d)"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--samplers", "top_k", "--sampler-seq", "k").options())
                .getMessage().contains("not both"));
    }

    @Test
    void aMalformedLogitBiasIsAUsageError() {
        for (String value : new String[] {"15043", "15043*2", "hello+1", "15043+", "15043+abc", "-3+1", "99999999999+1", "15043+inf"}) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> parse("-l", value).options(), value);
            assertTrue(error.getMessage().contains("bias"), error.getMessage());
        }
    }
}
