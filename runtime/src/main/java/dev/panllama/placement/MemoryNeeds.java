package dev.panllama.placement;

import java.util.List;
import java.util.NoSuchElementException;

/**
 * What a placement of a model takes in memory, where: per device offloaded to, and on the host, the
 * bytes of weights copied there, of the KV cache, and of compute buffers for the largest batch. The
 * host's weights are those copied into memory (converted for faster kernels, or read without mmap);
 * weights left in the mapped file are {@code mappedBytes}, paged in by the kernel and never counted
 * against a budget.
 *
 * @param devices one entry per device offloaded to, in order, then the host's, named {@value #HOST}
 */
public record MemoryNeeds(List<Where> devices, long mappedBytes) {

    public static final String HOST = "CPU";

    /** The bytes one device (or the host) needs. */
    public record Where(String device, long weights, long kv, long compute) {
        public long total() {
            return weights + kv + compute;
        }
    }

    public MemoryNeeds {
        devices = List.copyOf(devices);
    }

    /** The needs of the device named {@code device} (or the host, {@value #HOST}). */
    public Where of(String device) {
        return devices.stream().filter(w -> w.device().equals(device)).findFirst()
                .orElseThrow(() -> new NoSuchElementException("no device " + device + " in this placement"));
    }

    public Where host() {
        return of(HOST);
    }
}
