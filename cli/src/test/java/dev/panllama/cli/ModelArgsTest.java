package dev.panllama.cli;

import dev.panllama.placement.FitOptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelArgsTest {

    @Test
    void kvDeviceMemoryIsASizeAutoOrAllAndPlannedWhenNotGiven() {
        ModelArgs args = new ModelArgs();
        assertEquals(FitOptions.KV_AUTO, args.options().fit().kvDeviceMemory());
        args.kvDeviceMemory = "1.5GiB";
        assertEquals(3L << 29, args.options().fit().kvDeviceMemory());
        args.kvDeviceMemory = "512M";
        assertEquals(512L << 20, args.options().fit().kvDeviceMemory());
        args.kvDeviceMemory = "ALL";
        assertEquals(FitOptions.KV_ALL, args.options().fit().kvDeviceMemory());
        args.kvDeviceMemory = " auto";
        assertEquals(FitOptions.KV_AUTO, args.options().fit().kvDeviceMemory());
        for (String bad : new String[] {"0", "lots", "-1G", "automatic"}) {
            args.kvDeviceMemory = bad;
            var error = assertThrows(IllegalArgumentException.class, args::options, bad);
            assertTrue(error.getMessage().contains("--kv-device-memory"), error.getMessage());
        }
    }

    @Test
    void fitContextIsLlamaCppsDefaultAndMustBePositive() {
        ModelArgs args = new ModelArgs();
        assertEquals(4096, args.options().fit().minDeviceContext());
        args.fitContext = 16384;
        assertEquals(16384, args.options().fit().minDeviceContext());
        args.fitContext = 0;
        var error = assertThrows(IllegalArgumentException.class, args::options);
        assertTrue(error.getMessage().contains("--fit-ctx"), error.getMessage());
    }
}
