package dev.panllama.reference;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * The few ggml calls the reference process needs besides libllama's, to set up devices as llama.cpp's
 * common argument parser does: the reference's own ggml (loaded beside libllama in that process), reached
 * through plain FFM, since panllama's bindings must not be loaded there.
 */
final class GgmlCalls {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final FunctionDescriptor POINTER_OF_POINTER = FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS);

    private GgmlCalls() {
    }

    /** common/arg.cpp's add_rpc_devices for one server: its registry from ggml_backend_rpc_add_server, registered. */
    static void addRpcServer(Arena arena, String endpoint) {
        MemorySegment rpc = call(function("ggml_backend_reg_by_name", POINTER_OF_POINTER), arena.allocateFrom("RPC"));
        if (rpc.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("the reference build has no RPC backend");
        }
        MemorySegment addServer = call(function("ggml_backend_reg_get_proc_address",
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS)),
                rpc, arena.allocateFrom("ggml_backend_rpc_add_server"));
        MemorySegment registry = call(LINKER.downcallHandle(addServer, POINTER_OF_POINTER), arena.allocateFrom(endpoint));
        if (registry.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("the RPC server " + endpoint + " has no devices");
        }
        try {
            function("ggml_backend_register", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS)).invokeExact(registry);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** The buffer type of a device whose name is {@code name}, as common/arg.cpp finds -ot's buffer types. */
    static MemorySegment bufferTypeNamed(Arena arena, String name) {
        MethodHandle count = function("ggml_backend_dev_count", FunctionDescriptor.of(ValueLayout.JAVA_LONG));
        MethodHandle get = function("ggml_backend_dev_get", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
        MethodHandle buffer = function("ggml_backend_dev_buffer_type", POINTER_OF_POINTER);
        MethodHandle bufferName = function("ggml_backend_buft_name", POINTER_OF_POINTER);
        List<String> names = new ArrayList<>();
        try {
            long n = (long) count.invokeExact();
            for (long i = 0; i < n; i++) {
                MemorySegment type = (MemorySegment) buffer.invokeExact((MemorySegment) get.invokeExact(i));
                String typeName = ((MemorySegment) bufferName.invokeExact(type)).reinterpret(Long.MAX_VALUE).getString(0);
                if (typeName.equals(name)) {
                    return type;
                }
                names.add(typeName);
            }
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
        throw new IllegalArgumentException("no buffer type " + name + " among " + names);
    }

    private static MethodHandle function(String name, FunctionDescriptor descriptor) {
        MemorySegment address = SymbolLookup.loaderLookup().find(name)
                .orElseThrow(() -> new IllegalStateException("the reference's ggml has no " + name));
        return LINKER.downcallHandle(address, descriptor);
    }

    private static MemorySegment call(MethodHandle handle, MemorySegment... args) {
        try {
            return (MemorySegment) handle.invokeWithArguments((Object[]) args);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }
}
