package dev.panllama.cli;

import dev.panllama.bindings.LoadedLibraries;
import dev.panllama.bindings.NativeLibraries;
import dev.panllama.bindings.NativePin;
import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.BufferType;

import java.io.PrintWriter;
import java.util.List;
import java.util.stream.Collectors;

/** What this panllama runs on: version, ggml pin and libraries, devices, the CPU variant, its features and weight buffer types. */
final class SystemReport {

    private SystemReport() {
    }

    static void print(PrintWriter out, String version) {
        NativePin pin = NativePin.current();
        LoadedLibraries libraries = NativeLibraries.load();
        out.printf("panllama %s on Java %s (%s)%n", version, Runtime.version(), NativeLibraries.platform());
        out.printf("ggml     %s@%s, %s backends, from %s (%s)%n", pin.packageName(), pin.version(),
                libraries.modular() ? "loadable" : "linked", libraries.directory(), libraries.origin().description());

        List<BackendDevice> devices = BackendDevice.all();
        out.println("devices:");
        for (BackendDevice device : devices) {
            out.printf("  %-8s %-4s %s, %s%n", device.name(), device.kind(), device.description(),
                    Units.gibibytes(device.memoryTotal()));
        }
        BackendDevice preferred = BackendDevice.preferred();
        out.println(preferred.kind() == BackendDevice.Kind.CPU
                ? "using    CPU (no GPU backend found a device)"
                : "using    " + preferred.name() + " (" + preferred.description() + ")");

        BackendDevice cpu = BackendDevice.cpu();
        out.println("cpu      " + libraries.cpuLibrary().map(library -> "variant " + LoadedLibraries.cpuVariant(library)
                        + " (" + library.getFileName() + "), ").orElse("")
                + cpu.features().entrySet().stream()
                .map(e -> "1".equals(e.getValue()) ? e.getKey() : e.getKey() + "=" + e.getValue())
                .collect(Collectors.joining(" ")));
        List<BufferType> extra = cpu.extraBufferTypes();
        List<BufferType> usable = cpu.usableExtraBufferTypes();
        out.println("buffers  " + (extra.isEmpty() ? "none beyond CPU"
                : extra.stream()
                        .map(type -> usable.contains(type) ? type.name() : type.name() + " (not used: these libraries may lack panllama's fix of ggml's AMX kernels, which crash without it)")
                        .collect(Collectors.joining(", "))) + " for weights on the CPU");
    }
}
