package dev.panllama.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

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
    void aMalformedLogitBiasIsAUsageError() {
        for (String value : new String[] {"15043", "15043*2", "hello+1", "15043+", "15043+abc", "-3+1", "99999999999+1", "15043+inf"}) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> parse("-l", value).options(), value);
            assertTrue(error.getMessage().contains("bias"), error.getMessage());
        }
    }
}
