package dev.panllama.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelArgsTest {

    @Test
    void kvDeviceMemoryIsASizeAndNoLimitWhenNotGiven() {
        ModelArgs args = new ModelArgs();
        assertEquals(0, args.options().fit().kvDeviceMemory());
        args.kvDeviceMemory = "1.5GiB";
        assertEquals(3L << 29, args.options().fit().kvDeviceMemory());
        args.kvDeviceMemory = "512M";
        assertEquals(512L << 20, args.options().fit().kvDeviceMemory());
        for (String bad : new String[] {"0", "lots", "-1G"}) {
            args.kvDeviceMemory = bad;
            var error = assertThrows(IllegalArgumentException.class, args::options, bad);
            assertTrue(error.getMessage().contains("--kv-device-memory"), error.getMessage());
        }
    }
}
