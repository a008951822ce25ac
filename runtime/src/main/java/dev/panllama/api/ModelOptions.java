package dev.panllama.api;

import dev.panllama.eval.KvCacheTypes;
import dev.panllama.ggml.GgmlType;
import dev.panllama.placement.ExpertCacheOptions;
import dev.panllama.placement.FitOptions;
import dev.panllama.placement.Offload;

import java.util.List;

/**
 * How a model is opened. Validated on construction, with messages that name the option.
 *
 * @param threads       CPU threads for computing (default: the machine's cores)
 * @param contextLength tokens a chat or completion can hold; 0 takes the model's trained length
 *                      ({@code context_length} in its GGUF), which the KV cache takes memory for as tokens
 *                      fill it, in host memory and on the devices up to their share of it; at most
 *                      {@value #DEVICE_CONTEXT_CAP} only with {@code --kv-device-memory all} and a layer on a
 *                      device, where that layer's whole cache is allocated up front
 * @param batchSize     tokens per micro-batch of prompt processing (llama.cpp's ubatch, default 512)
 * @param cacheTypes    element types of the KV cache's keys and values ({@code -ctk}, {@code -ctv},
 *                      {@code --cache-type} for both): F16 (default), F32 (twice the memory; ggml's CPU flash
 *                      attention then takes a token's query and sums in F32 whatever the micro-batch, where
 *                      with F16 it does so only in micro-batches of 64 tokens or more), Q8_0 or Q4_0; and of
 *                      the host tier of a layer split by {@code --kv-device-memory} ({@code --cache-type-host};
 *                      where no layer is split, as with {@code all}, the host tier's types are not used)
 * @param mmap          map the weights from the file (default) rather than reading them into memory
 * @param device        where to compute: {@code auto} (every GPU found and every RPC server's devices, else
 *                      the CPU alone), {@code cpu}, or device names such as {@code CUDA0} or {@code CUDA0,RPC0}
 * @param rpcServers    llama.cpp's {@code --rpc}: {@code HOST:PORT} of rpc-servers whose devices to use
 *                      (see {@link dev.panllama.ggml.RpcServers}); empty for none
 * @param offload       what goes to the devices: llama.cpp's {@code -ngl}, {@code -ot}, {@code --cpu-moe},
 *                      {@code --n-cpu-moe} (default: everything they take)
 * @param fit           whether and how the placement is planned to fit the devices' memory ({@code --fit},
 *                      {@code --fit-target}, {@code --device-memory}), and the KV cache's share of the devices
 *                      ({@code --kv-device-memory}, the rest in host memory); the plan decides what {@code offload}
 *                      leaves open: it runs when -ngl, --cpu-moe and --n-cpu-moe are unset
 * @param expertCache   hot experts: a cache of routed experts in device memory for the layers whose experts
 *                      are in host memory ({@code --expert-cache}, {@code --expert-cache-policy},
 *                      {@code --expert-cache-profile}); {@link ExpertCacheOptions#OFF} by default
 */
public record ModelOptions(int threads, int contextLength, int batchSize, KvCacheTypes cacheTypes, boolean mmap, String device,
                           List<String> rpcServers, Offload offload, FitOptions fit, ExpertCacheOptions expertCache) {

    /** The most tokens the default context holds when a layer's whole KV cache is on a device ({@code --kv-device-memory all}). */
    public static final int DEVICE_CONTEXT_CAP = 8192;

    public ModelOptions {
        if (threads < 1) {
            throw new IllegalArgumentException("--threads must be at least 1, not " + threads);
        }
        if (contextLength < 0) {
            throw new IllegalArgumentException("--ctx-size must be 0 (the model's) or positive, not " + contextLength);
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("--ubatch-size must be at least 1, not " + batchSize);
        }
        if (cacheTypes == null) {
            throw new IllegalArgumentException("cacheTypes must be given (KvCacheTypes.F16 for llama.cpp's)");
        }
        if (device == null || device.isBlank()) {
            throw new IllegalArgumentException("--device must name a device (auto, cpu, CUDA0, ...)");
        }
        rpcServers = List.copyOf(rpcServers);
        if (offload == null) {
            throw new IllegalArgumentException("offload must be given (Offload.all() for everything the devices take)");
        }
        if (fit == null) {
            throw new IllegalArgumentException("fit must be given (FitOptions.defaults() for llama.cpp's)");
        }
        if (expertCache == null) {
            throw new IllegalArgumentException("expertCache must be given (ExpertCacheOptions.OFF for none)");
        }
    }

    /** Options without RPC servers, offloading everything the devices take. */
    public ModelOptions(int threads, int contextLength, int batchSize, KvCacheTypes cacheTypes, boolean mmap, String device) {
        this(threads, contextLength, batchSize, cacheTypes, mmap, device, List.of(), Offload.all(), FitOptions.defaults(),
                ExpertCacheOptions.OFF);
    }

    public static ModelOptions defaults() {
        return new ModelOptions(Runtime.getRuntime().availableProcessors(), 0, 512, KvCacheTypes.F16, true, "auto");
    }

    public ModelOptions withRpcServers(List<String> value) {
        return new ModelOptions(threads, contextLength, batchSize, cacheTypes, mmap, device, value, offload, fit, expertCache);
    }

    public ModelOptions withOffload(Offload value) {
        return new ModelOptions(threads, contextLength, batchSize, cacheTypes, mmap, device, rpcServers, value, fit, expertCache);
    }

    public ModelOptions withFit(FitOptions value) {
        return new ModelOptions(threads, contextLength, batchSize, cacheTypes, mmap, device, rpcServers, offload, value, expertCache);
    }

    public ModelOptions withExpertCache(ExpertCacheOptions value) {
        return new ModelOptions(threads, contextLength, batchSize, cacheTypes, mmap, device, rpcServers, offload, fit, value);
    }

    public ModelOptions withThreads(int value) {
        return new ModelOptions(value, contextLength, batchSize, cacheTypes, mmap, device, rpcServers, offload, fit, expertCache);
    }

    public ModelOptions withContextLength(int value) {
        return new ModelOptions(threads, value, batchSize, cacheTypes, mmap, device, rpcServers, offload, fit, expertCache);
    }

    public ModelOptions withBatchSize(int value) {
        return new ModelOptions(threads, contextLength, value, cacheTypes, mmap, device, rpcServers, offload, fit, expertCache);
    }

    /** Keys and values of {@code value} in every tier, as {@code --cache-type} gives them. */
    public ModelOptions withCacheType(GgmlType value) {
        return withCacheTypes(KvCacheTypes.of(value));
    }

    public ModelOptions withCacheTypes(KvCacheTypes value) {
        return new ModelOptions(threads, contextLength, batchSize, value, mmap, device, rpcServers, offload, fit, expertCache);
    }

    public ModelOptions withDevice(String value) {
        return new ModelOptions(threads, contextLength, batchSize, cacheTypes, mmap, value, rpcServers, offload, fit, expertCache);
    }

    public ModelOptions withMmap(boolean value) {
        return new ModelOptions(threads, contextLength, batchSize, cacheTypes, value, device, rpcServers, offload, fit, expertCache);
    }
}
