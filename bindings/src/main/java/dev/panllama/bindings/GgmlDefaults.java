package dev.panllama.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Settings ggml reads from the environment when its backends start, where panllama's default differs
 * from ggml's: set in this process's native environment before the libraries load, and only where the
 * user has not set them.
 * <p>
 * {@value #OP_OFFLOAD_MIN_BATCH}: from how many tokens a batch whose weights are in host memory (routed
 * experts kept on the host) copies them to a GPU and multiplies there rather than on the CPU. ggml's
 * CUDA backend uses 32. Measured with {@code scripts/bench-offload --sweep} (an NVIDIA H200 beside a
 * 16-core Xeon, experts in host RAM), the CPU is faster up to 64 tokens (1.6x at 32, for llama.cpp and
 * panllama alike) and the GPU from 128 on, so panllama uses {@value #OP_OFFLOAD_MIN_BATCH_DEFAULT}.
 */
final class GgmlDefaults {

    static final String OP_OFFLOAD_MIN_BATCH = "GGML_OP_OFFLOAD_MIN_BATCH";
    static final String OP_OFFLOAD_MIN_BATCH_DEFAULT = "128";

    private GgmlDefaults() {
    }

    /** Sets each default the environment lacks; call before ggml is loaded. */
    static void apply() {
        setUnlessSet(OP_OFFLOAD_MIN_BATCH, OP_OFFLOAD_MIN_BATCH_DEFAULT);
    }

    /** libc's setenv without overwriting: the process's native environment, which ggml's getenv reads. */
    static void setUnlessSet(String name, String value) {
        Linker linker = Linker.nativeLinker();
        MethodHandle setenv = linker.defaultLookup().find("setenv")
                .map(address -> linker.downcallHandle(address,
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT)))
                .orElse(null);
        if (setenv == null) {
            return;   // no POSIX setenv here (Windows): ggml keeps its own default
        }
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) setenv.invokeExact(arena.allocateFrom(name), arena.allocateFrom(value), 0);
        } catch (Throwable e) {
            throw new IllegalStateException("could not set " + name + " for ggml", e);
        }
    }
}
