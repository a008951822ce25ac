package dev.panllama.cli;

import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
import dev.panllama.bindings.UserCache;
import dev.panllama.eval.KvCacheTypes;
import dev.panllama.hub.HubDownloader;
import dev.panllama.ggml.GgmlType;
import dev.panllama.placement.ExpertCacheOptions;
import dev.panllama.placement.ExpertPolicy;
import dev.panllama.placement.FitOptions;
import dev.panllama.placement.Offload;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The options that open a model, named as llama.cpp names them. */
final class ModelArgs {

    @Option(names = {"-m", "--model"}, paramLabel = "FILE", description = "GGUF model file (first part of a split model).")
    Path model;

    @Option(names = {"-hf", "--hf"}, paramLabel = "OWNER/REPO[:QUANT]",
            description = "Download the model from the Hugging Face hub (default quantization Q4_K_M) into the cache, then use it.")
    String hf;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N", description = "Context length in tokens (default: the model's trained context, whose KV cache takes memory only as tokens "
            + "fill it, on the devices up to their share (--kv-device-memory) and in host memory; at most 8192 with --kv-device-memory all "
            + "and a layer on a device, whose whole cache is then allocated up front).")
    int contextLength;

    @Option(names = {"-ub", "--ubatch-size"}, paramLabel = "N", description = "Tokens per micro-batch of prompt processing (default: 512).")
    int batchSize = 512;

    @Option(names = "--cache-type", paramLabel = "TYPE",
            description = "KV cache type of keys and values: f16 (default), f32, q8_0 or q4_0; -ctk and -ctv set one of them instead.")
    String cacheType;

    @Option(names = {"-ctk", "--cache-type-k"}, paramLabel = "TYPE",
            description = "KV cache type of the keys, as llama.cpp's: f16 (default), f32, q8_0 or q4_0. Every layer's, a layer on the CPU too; "
                    + "of a layer --kv-device-memory splits, the device tier's.")
    String cacheTypeK;

    @Option(names = {"-ctv", "--cache-type-v"}, paramLabel = "TYPE",
            description = "KV cache type of the values, as llama.cpp's: f16 (default), f32, q8_0 or q4_0; the layers as -ctk.")
    String cacheTypeV;

    @Option(names = "--cache-type-host", paramLabel = "TYPE",
            description = "KV cache type of the keys and values in the host tier of a layer --kv-device-memory splits, e.g. q8_0 under an f16 "
                    + "device tier for half the host memory (default: -ctk and -ctv). Attention converts those rows on the CPU.")
    String cacheTypeHost;

    @Option(names = "--no-mmap", description = "Read the weights into memory instead of mapping the file.")
    boolean noMmap;

    @Option(names = {"-dev", "--device"}, paramLabel = "NAME[,NAME...]",
            description = "Where to compute: auto (every GPU found and the --rpc servers, default), cpu, or devices such as CUDA0 or CUDA0,RPC0.")
    String device = "auto";

    @Option(names = "--rpc", paramLabel = "HOST:PORT", split = ",",
            description = "Use the devices of these rpc-servers (ggml's RPC backend) as llama.cpp's --rpc does. "
                    + "An rpc-server must never face an open network: it runs whatever it is sent.")
    List<String> rpc = new ArrayList<>();

    @Option(names = {"-ngl", "--n-gpu-layers", "--gpu-layers"}, paramLabel = "N",
            description = "How many layers, counted from the last (the output layer counts as one), go to the devices: a number or all (default: all).")
    String gpuLayers = "all";

    @Option(names = {"-ot", "--override-tensor"}, paramLabel = "PATTERN=BUFFER[,...]",
            description = "Put weights whose name the regular expression finds in that buffer type (CPU, CUDA0, RPC0[host:port], ...). Repeatable.")
    List<String> overrides = new ArrayList<>();

    @Option(names = {"-cmoe", "--cpu-moe"}, description = "Keep every layer's routed experts on the CPU.")
    boolean cpuMoe;

    @Option(names = {"-ncmoe", "--n-cpu-moe"}, paramLabel = "N", description = "Keep the routed experts of the first N layers on the CPU.")
    int cpuMoeLayers;

    @Option(names = {"-ts", "--tensor-split"}, paramLabel = "N0,N1,...",
            description = "How the offloaded layers are shared between several devices, as proportions in their order, e.g. 3,1 (default: by free memory; a --fit plan shares them by budget).")
    String tensorSplit;

    @Option(names = {"-nr", "--no-repack"},
            description = "Keep the weights that stay on the CPU as the file has them, not rearranged for the CPU's faster kernels (ggml's CPU_REPACK and AMX buffer types).")
    boolean noRepack;

    @Option(names = {"-fit", "--fit"}, paramLabel = "on|off",
            description = "Plan what goes to the devices so that it fits their memory (default: on; it leaves the placement to -ngl, --cpu-moe and --n-cpu-moe when you give them).")
    String fit = "on";

    @Option(names = {"-fitt", "--fit-target"}, paramLabel = "MiB",
            description = "Memory --fit leaves free on each device (default: 1024).")
    long fitTargetMiB = FitOptions.DEFAULT_MARGIN >> 20;

    @Option(names = "--device-memory", paramLabel = "NAME=SIZE[,...]",
            description = "What a device may take instead of its free memory less --fit-target, e.g. CUDA0=20GiB: room for other programs, or a plan for a smaller card. Repeatable.")
    List<String> deviceMemory = new ArrayList<>();

    @Option(names = "--kv-device-memory", paramLabel = "SIZE|auto|all",
            description = "The most the KV cache takes on the devices, all together, e.g. 2GiB: each layer on a device keeps its first cells there "
                    + "and the rest of the context in host memory, which takes memory as tokens fill it. auto (default): what the devices have "
                    + "left once the weights are placed with room for --fit-ctx tokens; all: every cell of a device layer on its device, "
                    + "allocated up front, as llama.cpp does.")
    String kvDeviceMemory = "auto";

    @Option(names = {"-fitc", "--fit-ctx"}, paramLabel = "N",
            description = "With --kv-device-memory auto, the tokens of context each device layer keeps room for on its device while weights "
                    + "are placed (default: " + FitOptions.DEFAULT_MIN_DEVICE_CONTEXT + ").")
    int fitContext = FitOptions.DEFAULT_MIN_DEVICE_CONTEXT;

    @Option(names = "--expert-cache", paramLabel = "SIZE|auto",
            description = "Hot experts: keep the routed experts the model chooses most, of the layers whose experts are in host memory, in SIZE of the first device's memory (e.g. 4GiB), or auto: what the placement leaves free there. Exact: results do not change.")
    String expertCache;

    @Option(names = "--expert-cache-policy", paramLabel = "lfu-decay|lru",
            description = "How the expert cache chooses the experts it holds (default: lfu-decay).")
    String expertCachePolicy;

    @Option(names = "--expert-cache-profile", paramLabel = "FILE",
            description = "Warm the expert cache from this routing profile at load, when the file exists, and save the cache's ranking to it when the model closes.")
    Path expertCacheProfile;

    ModelOptions options() {
        KvCacheTypes cacheTypes = cacheTypes();
        ModelOptions defaults = ModelOptions.defaults();
        List<Offload.TensorOverride> parsed = new ArrayList<>();
        overrides.forEach(o -> parsed.addAll(Offload.TensorOverride.parse(o)));
        Offload offload = new Offload(gpuLayers(), parsed, cpuMoe, cpuMoeLayers,
                tensorSplit == null ? List.of() : Offload.parseTensorSplit(tensorSplit), !noRepack);
        return new ModelOptions(threads == null ? defaults.threads() : threads, contextLength, batchSize, cacheTypes, !noMmap, device,
                rpc, offload, fitOptions(), expertCacheOptions());
    }

    /** --cache-type for keys and values, -ctk and -ctv over it for either, --cache-type-host for the host tier of split layers. */
    private KvCacheTypes cacheTypes() {
        GgmlType both = cacheType == null ? GgmlType.F16 : KvCacheTypes.parse(cacheType, "--cache-type");
        KvCacheTypes types = KvCacheTypes.of(cacheTypeK == null ? both : KvCacheTypes.parse(cacheTypeK, "-ctk"),
                cacheTypeV == null ? both : KvCacheTypes.parse(cacheTypeV, "-ctv"));
        if (cacheTypeHost == null) {
            return types;
        }
        GgmlType host = KvCacheTypes.parse(cacheTypeHost, "--cache-type-host");
        if (FitOptions.parseKvDeviceMemory(kvDeviceMemory) == FitOptions.KV_ALL) {
            throw new IllegalArgumentException("--cache-type-host sets the host tier of the layers --kv-device-memory splits, "
                    + "and --kv-device-memory all splits none");
        }
        return types.withHostTier(host);
    }

    private ExpertCacheOptions expertCacheOptions() {
        if (expertCache == null) {
            if (expertCachePolicy != null || expertCacheProfile != null) {
                throw new IllegalArgumentException("--expert-cache-policy and --expert-cache-profile need --expert-cache");
            }
            return ExpertCacheOptions.OFF;
        }
        ExpertCacheOptions options = ExpertCacheOptions.parse(expertCache).withProfile(expertCacheProfile);
        return expertCachePolicy == null ? options : options.withPolicy(ExpertPolicy.named(expertCachePolicy));
    }

    private FitOptions fitOptions() {
        boolean enabled = switch (fit.toLowerCase(Locale.ROOT)) {
            case "on" -> true;
            case "off" -> false;
            default -> throw new IllegalArgumentException("--fit must be on or off, not " + fit);
        };
        if (fitTargetMiB < 0) {
            throw new IllegalArgumentException("--fit-target must be 0 or more MiB, not " + fitTargetMiB);
        }
        Map<String, Long> sizes = new LinkedHashMap<>();
        deviceMemory.forEach(d -> sizes.putAll(FitOptions.parseDeviceMemory(d)));
        return new FitOptions(enabled, fitTargetMiB << 20, sizes, FitOptions.parseKvDeviceMemory(kvDeviceMemory), fitContext);
    }

    private int gpuLayers() {
        if (gpuLayers.equalsIgnoreCase("all") || gpuLayers.equalsIgnoreCase("auto")) {
            return Offload.ALL_LAYERS;
        }
        try {
            int n = Integer.parseInt(gpuLayers);
            if (n >= 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new IllegalArgumentException("--n-gpu-layers must be a number of layers (0 or more) or all, not " + gpuLayers);
    }

    /** Whether -m or --hf names a model (chat starts its demo model when neither does). */
    boolean given() {
        return model != null || hf != null;
    }

    /** The model file, checked to exist (downloaded first for --hf). */
    Path requireModel() {
        if (hf != null) {
            if (model != null) {
                throw new IllegalArgumentException("give -m or --hf, not both");
            }
            model = download(hf);
        }
        if (model == null) {
            throw new IllegalArgumentException("no model given: use -m FILE (panllama list shows GGUF files already on this machine)");
        }
        InputFile.require(model);
        return model;
    }

    private static Path download(String reference) {
        HubDownloader hub = HubDownloader.fromEnvironment(UserCache.user().root().resolve("hf"));
        long[] shown = {-1};
        try {
            Path file = hub.fetch(reference, (done, total) -> {
                long percent = total > 0 ? done * 100 / total : -1;
                if (percent != shown[0]) {
                    shown[0] = percent;
                    System.err.printf("\rdownloading %s: %s %s", reference, percent >= 0 ? percent + "%" : "",
                            Units.bytes(done));
                }
            });
            if (shown[0] >= 0) {
                System.err.println();
            }
            return file;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("downloading " + reference + " failed: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("download interrupted");
        }
    }

    /** Opens the model, saying on {@code err} what it loads and how long it took. */
    LlamaModel open(Path file, PrintWriter err) {
        ModelOptions options = options();
        String name = file.getFileName().toString();
        long start = System.nanoTime();
        int[] shown = {-1};
        boolean terminal = System.console() != null && System.console().isTerminal();
        LlamaModel opened;
        try {
            opened = LlamaModel.open(file, options, fraction -> {
                int filled = (int) Math.round(fraction * 30);
                if (terminal && filled != shown[0]) {
                    shown[0] = filled;
                    err.printf("\rloading %s [%s%s] %3d%%", name, "#".repeat(filled), " ".repeat(30 - filled), Math.round(fraction * 100));
                    err.flush();
                }
            });
        } catch (RuntimeException e) {
            err.println(shown[0] < 0 ? "loading " + name + ": failed" : " failed");
            throw e;
        }
        if (shown[0] >= 0) {
            err.println();
        }
        opened.plan().ifPresent(plan -> plan.describe().forEach(err::println));
        opened.expertCacheDescription().ifPresent(err::println);
        err.printf("loaded %s in %s (%s on %s, %d threads, context %d)%n", name,
                Units.seconds(Units.secondsSince(start)), opened.config().architecture(), opened.device(), options.threads(), opened.contextLength());
        return opened;
    }
}
