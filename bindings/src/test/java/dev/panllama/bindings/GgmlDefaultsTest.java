package dev.panllama.bindings;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** panllama's defaults for ggml's environment settings reach the native environment ggml reads, and never override the user's. */
class GgmlDefaultsTest {

    /** The native environment's value (System.getenv shows the environment the JVM started with, not setenv's). */
    private static String nativeValue(String name) throws Throwable {
        Linker linker = Linker.nativeLinker();
        MethodHandle getenv = linker.downcallHandle(linker.defaultLookup().find("getenv").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = (MemorySegment) getenv.invokeExact(arena.allocateFrom(name));
            return value.equals(MemorySegment.NULL) ? null : value.reinterpret(Long.MAX_VALUE).getString(0);
        }
    }

    @Test
    void loadingGgmlSetsTheOpOffloadThresholdUnlessTheUserDid() throws Throwable {
        NativeLibraries.load();
        String user = System.getenv(GgmlDefaults.OP_OFFLOAD_MIN_BATCH);
        assertEquals(user != null ? user : GgmlDefaults.OP_OFFLOAD_MIN_BATCH_DEFAULT, nativeValue(GgmlDefaults.OP_OFFLOAD_MIN_BATCH));
    }

    @Test
    void aValueAlreadySetStays() throws Throwable {
        String name = "PANLLAMA_TEST_SETTING_" + ProcessHandle.current().pid();
        assertNull(nativeValue(name));
        GgmlDefaults.setUnlessSet(name, "first");
        GgmlDefaults.setUnlessSet(name, "second");
        assertEquals("first", nativeValue(name));
    }
}
