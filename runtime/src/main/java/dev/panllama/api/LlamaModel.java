package dev.panllama.api;

import dev.panllama.chat.ChatFormat;
import dev.panllama.chat.JinjaChatFormat;
import dev.panllama.chat.Message;
import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.RpcServers;
import dev.panllama.gguf.GgufMetadata;
import dev.panllama.bindings.NativePin;
import dev.panllama.eval.BatchEvaluator;
import dev.panllama.eval.SequenceState;
import dev.panllama.model.GraphOutput;
import dev.panllama.eval.Evaluator;
import dev.panllama.eval.MemoryMeasure;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufFingerprint;
import dev.panllama.model.Architecture;
import dev.panllama.model.Model;
import dev.panllama.model.ModelConfig;
import dev.panllama.model.TensorRole;
import dev.panllama.model.WeightSpec;
import dev.panllama.placement.ExpertCache;
import dev.panllama.placement.ExpertCacheOptions;
import dev.panllama.placement.ExpertCacheStatistics;
import dev.panllama.placement.FitOptions;
import dev.panllama.placement.Offload;
import dev.panllama.placement.Plan;
import dev.panllama.placement.Planner;
import dev.panllama.placement.RoutingProfile;
import dev.panllama.placement.WeightPlacement;
import dev.panllama.structured.VocabularyTrie;
import dev.panllama.tokenizer.Tokenizer;
import dev.panllama.tokenizer.Vocabulary;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A language model opened from a GGUF file: the entry point of panllama's Java API.
 *
 * <pre>{@code
 * try (LlamaModel model = LlamaModel.open(Path.of("model.gguf"), ModelOptions.defaults());
 *      Chat chat = model.newChat("You are terse.")) {
 *     chat.send("Name three rivers.", System.out::print);
 * }
 * }</pre>
 *
 * <p>Thread safety: a model may be shared; {@link #newChat} and {@link #newCompletion} may be called
 * from any thread. Each {@link Chat} or {@link Completion} holds its own KV cache and is used by one
 * thread at a time (its {@code cancel()} excepted). After {@link #close()} every method of the model,
 * and of the chats and completions made from it, throws {@link IllegalStateException}; closing frees
 * all native memory, the chats' caches included.
 */
public final class LlamaModel implements AutoCloseable {

    private final Model model;
    private final Tokenizer tokenizer;
    private final ModelOptions options;
    private final Optional<Plan> plan;
    private final int contextLength;
    private final java.util.Set<AutoCloseable> sessions = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private volatile boolean closed;
    private volatile VocabularyTrie vocabularyTrie;

    private LlamaModel(Model model, Tokenizer tokenizer, ModelOptions options, Optional<Plan> plan) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.options = options;
        this.plan = plan;
        this.contextLength = contextLength(options, model.config(), model.placement().hasLayerOnDevice());
    }

    /**
     * The context a model opens with: {@code -c} when given, else the model's trained context, which the
     * KV cache takes memory for only as tokens fill it: in host memory, and on the devices up to their
     * share of it ({@code --kv-device-memory}). Only with {@code --kv-device-memory all}, where a layer on
     * a device keeps every cell there, allocated up front, is it at most
     * {@value ModelOptions#DEVICE_CONTEXT_CAP} tokens once a layer is on a device.
     */
    private static int contextLength(ModelOptions options, ModelConfig config, boolean layerOnDevice) {
        if (options.contextLength() > 0) {
            return options.contextLength();
        }
        int trained = config.dims().contextLength();
        boolean wholeCacheOnDevice = layerOnDevice && options.fit().kvDeviceMemory() == FitOptions.KV_ALL;
        return wholeCacheOnDevice ? Math.min(trained, ModelOptions.DEVICE_CONTEXT_CAP) : trained;
    }

    /**
     * Opens the GGUF model at {@code path}.
     *
     * @throws dev.panllama.gguf.GgufException                   the file is missing or not a usable GGUF
     * @throws dev.panllama.model.UnsupportedArchitectureException its architecture is not implemented
     */
    public static LlamaModel open(Path path, ModelOptions options) {
        return open(path, options, fraction -> { });
    }

    /**
     * As {@link #open(Path, ModelOptions)}, telling {@code progress} the fraction of the weights loaded
     * (from 0 to 1, on the opening thread), for a progress bar.
     */
    public static LlamaModel open(Path path, ModelOptions options, java.util.function.DoubleConsumer progress) {
        // The RPC servers first: their devices then count among the GPUs that "auto" offloads to.
        List<BackendDevice> devices = BackendDevice.offloadTargets(options.device(), RpcServers.connect(options.rpcServers()));
        Optional<Plan> plan = plan(path, options, devices);
        Model model = Model.open(path, options.threads(), options.mmap(), progress, devices,
                plan.map(Plan::offload).orElse(options.offload()));
        try {
            openExpertCache(model, options.expertCache(), plan);
            return new LlamaModel(model, Tokenizer.of(model.metadata()), options, plan);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /**
     * Opens the model's expert cache as {@code options} say: of their size, or with {@code auto} of what
     * the plan leaves free on the first device (no cache when that holds not one expert per layer), warmed
     * from the routing profile when its file exists.
     */
    private static void openExpertCache(Model model, ExpertCacheOptions options, Optional<Plan> plan) {
        if (!options.enabled()) {
            return;
        }
        int[] cachedLayers = ExpertCache.hostExpertLayers(model.config(), model.weights(), model.placement());
        if (cachedLayers.length == 0) {
            if (options.auto()) {
                return;
            }
            throw new IllegalArgumentException("--expert-cache: no layer's routed experts are in host memory, there is nothing to cache"
                    + " (--cpu-moe, --n-cpu-moe or --fit with --device-memory put them there)");
        }
        long left = plan.map(LlamaModel::leftOnFirstDevice).orElse(0L);
        // A fitted plan was made for what the cache leaves of the budget; a placement given by hand was only checked.
        if (!options.auto() && plan.isPresent() && !plan.get().fitted() && options.bytes() > left) {
            throw new IllegalArgumentException(String.format("--expert-cache %.1f MiB does not fit: the placement leaves %.1f MiB of %s's budget",
                    options.bytes() / 1048576.0, left / 1048576.0, plan.get().budgets().getFirst().device()));
        }
        long bytes = options.auto() ? left : options.bytes();
        int slots = ExpertCache.slotsFor(model.config(), model.weights(), model.placement(), bytes);
        if (slots == 0) {
            if (options.auto()) {
                return;
            }
            throw new IllegalArgumentException("--expert-cache: " + bytes + " bytes hold not one expert of each of the "
                    + cachedLayers.length + " layers whose experts are in host memory (an expert of layer " + cachedLayers[0] + " takes "
                    + ExpertCache.expertBytes(model.weights(), cachedLayers[0]) + " bytes)");
        }
        ExpertCache cache = model.openExpertCache(slots, options.policy());
        if (options.profile().isPresent() && java.nio.file.Files.exists(options.profile().get())) {
            try {
                RoutingProfile.warm(cache, RoutingProfile.read(options.profile().get()));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot read the routing profile " + options.profile().get(), e);
            }
        }
    }

    /** What the plan leaves of the first device's budget once its weights, KV cache and compute memory are counted. */
    private static long leftOnFirstDevice(Plan plan) {
        if (plan.budgets().isEmpty()) {
            return 0;
        }
        Planner.Budget budget = plan.budgets().getFirst();
        return Math.max(0, budget.bytes() - plan.needs().of(budget.device()).total());
    }

    /**
     * The placement opening the model with {@code options} would use, planned or checked against the
     * devices' memory, without loading any weight ({@code info --plan}); empty when all is on the CPU.
     *
     * @throws dev.panllama.placement.PlacementException when it cannot fit
     */
    public static Optional<Plan> plan(Path path, ModelOptions options) {
        return plan(path, options, BackendDevice.offloadTargets(options.device(), RpcServers.connect(options.rpcServers())));
    }

    /**
     * With devices to offload to: the {@link Planner}'s fit when {@code --fit} is on and the user set none
     * of -ngl, --cpu-moe, --n-cpu-moe, else the user's placement checked against the devices' memory.
     */
    private static Optional<Plan> plan(Path path, ModelOptions options, List<BackendDevice> devices) {
        if (devices.isEmpty()) {
            if (!options.fit().deviceMemory().isEmpty()) {
                throw new IllegalArgumentException("--device-memory names a device, but this model computes on the CPU alone");
            }
            return Optional.empty();
        }
        Offload given = options.offload();
        boolean fit = options.fit().enabled() && given.gpuLayers() == Offload.ALL_LAYERS && !given.cpuMoe() && given.cpuMoeLayers() == 0;
        ModelConfig config;
        List<List<String>> routedExperts = new ArrayList<>();
        try (GgufFile file = GgufFile.open(path)) {
            Architecture architecture = Architecture.of(file.metadata());
            config = architecture.configure(file.metadata());
            for (int layer = 0; layer < config.dims().layers(); layer++) {
                routedExperts.add(new ArrayList<>());
            }
            for (WeightSpec spec : architecture.weights(config)) {
                if (spec.role() == TensorRole.ROUTED_EXPERT && file.findTensor(spec.name()).isPresent()) {
                    routedExperts.get(spec.layer()).add(spec.name());
                }
            }
        }
        // What each device may take less the --fit-target margin and the expert cache: a fit's budgets, and what a planned
        // KV cache grows into (a placement given by hand is checked against the devices' free memory).
        List<Planner.Budget> withMargin = lessExpertCache(options.fit().budgets(devices, true), options);
        List<Planner.Budget> budgets = fit ? withMargin : options.fit().budgets(devices, false);
        // The devices each layer goes to in every step of a fit (the planner shares layers by budget).
        WeightPlacement layerSplit = new WeightPlacement(devices, Offload.all().withTensorSplit(Planner.layerShares(given, budgets)),
                options.mmap(), config.dims().layers(), config.experts().used());
        // Measured at the device default: a fit puts layers, and so their KV caches, on the devices. Should
        // the placement chosen keep every layer on the host, the model opens with the trained context,
        // which changes no device's needs: attention then runs on the CPU, beside the cache.
        WeightPlacement asGiven = new WeightPlacement(devices, given, options.mmap(), config.dims().layers(), config.experts().used());
        int context = contextLength(options, config, fit || asGiven.hasLayerOnDevice());
        Planner planner = new Planner(budgets, config.dims().layers(), routedExperts,
                layer -> layerSplit.layerDevice(layer).bufferType().name(),
                (offload, kvDeviceBytes) -> {
                    try (Model placed = Model.placeWithoutMemory(path, options.mmap(), devices, offload)) {
                        return new Planner.Trial(offload, MemoryMeasure.of(placed, context, options.batchSize(), options.cacheTypes(),
                                kvDeviceBytes), placed.weights().bufferOfWeight(), kvDeviceBytes);
                    }
                }, kvDemand(options, config, devices, context, withMargin));
        return Optional.of(fit ? planner.fit(given) : planner.check(given));
    }

    /** {@code budgets} with the first device's less what {@code --expert-cache SIZE} takes of it. */
    private static List<Planner.Budget> lessExpertCache(List<Planner.Budget> budgets, ModelOptions options) {
        if (options.expertCache().bytes() <= 0 || budgets.isEmpty()) {
            return budgets;
        }
        List<Planner.Budget> less = new ArrayList<>(budgets);
        Planner.Budget first = less.getFirst();
        less.set(0, new Planner.Budget(first.device(), first.buffer(), Math.max(0, first.bytes() - options.expertCache().bytes()),
                first.source() + " less --expert-cache"));
        return less;
    }

    /**
     * The KV cache a plan makes room for: the share of the devices {@code --kv-device-memory} gives, or with
     * {@code auto} one the planner sizes, growing into the devices' budgets less the {@code --fit-target}
     * margin and the expert cache (a placement given by hand is checked against their free memory), unless
     * the expert cache's {@code auto} is to take what the placement leaves.
     */
    private static Planner.KvDemand kvDemand(ModelOptions options, ModelConfig config, List<BackendDevice> devices, int context,
                                             List<Planner.Budget> withMargin) {
        FitOptions fit = options.fit();
        if (fit.kvDeviceMemory() != FitOptions.KV_AUTO) {
            return Planner.KvDemand.fixed(fit.kvDeviceMemory());
        }
        List<Planner.Budget> growInto = options.expertCache().auto() ? List.of() : withMargin;
        return new Planner.KvDemand(FitOptions.KV_AUTO, context, fit.minDeviceContext(), growInto, (offload, tokens) -> {
            WeightPlacement placement = new WeightPlacement(devices, offload, options.mmap(), config.dims().layers(), config.experts().used());
            return MemoryMeasure.kvDeviceBytes(config, layer -> placement.layerDevice(layer).bufferType(), context, options.batchSize(),
                    options.cacheTypes(), tokens);
        });
    }

    public GgufMetadata metadata() {
        checkOpen();
        return model.metadata();
    }

    /** The device the model computes on (a GPU's name, or CPU). */
    public String device() {
        checkOpen();
        return model.device().name();
    }

    /** The placement the model was opened with, planned or checked; empty when all is on the CPU. */
    public Optional<Plan> plan() {
        return plan;
    }

    /** Bytes of weights copied out of the file, by buffer type name: device memory, or host memory converted for faster kernels. */
    public java.util.Map<String, Long> weightBytesByBuffer() {
        checkOpen();
        return model.weights().bytesByBuffer();
    }

    /** The options the model was opened with. */
    public ModelOptions options() {
        return options;
    }

    public ModelConfig config() {
        checkOpen();
        return model.config();
    }

    public Tokenizer tokenizer() {
        checkOpen();
        return tokenizer;
    }

    /** The vocabulary's prefix tree for structured output, built on first use (under a second for 128k tokens). */
    VocabularyTrie vocabularyTrie() {
        VocabularyTrie trie = vocabularyTrie;
        if (trie == null) {
            synchronized (this) {
                trie = vocabularyTrie;
                if (trie == null) {
                    trie = VocabularyTrie.of(tokenizer);
                    vocabularyTrie = trie;
                }
            }
        }
        return trie;
    }

    public Vocabulary vocabulary() {
        return tokenizer().vocabulary();
    }

    /** Tokens a chat or completion of this model can hold. */
    public int contextLength() {
        return contextLength;
    }

    /** The model's own chat template ({@code tokenizer.chat_template}), when its file has one. */
    public Optional<String> chatTemplate() {
        return metadata().findString("tokenizer.chat_template");
    }

    /**
     * The chat format to use: the file's Jinja template when it has one, else the built-in format of
     * its architecture (Llama 4's for llama4, Llama 3's for llama).
     */
    public ChatFormat defaultChatFormat() {
        Optional<String> template = chatTemplate();
        if (template.isPresent()) {
            return chatFormat(template.get());
        }
        return model.config().architecture().equals("llama4") ? new ChatFormat.Llama4() : new ChatFormat.Llama3();
    }

    /**
     * A Jinja chat template, such as a file of Hugging Face's or llama.cpp's {@code models/templates},
     * given this model's beginning and end tokens ({@code bos_token}, {@code eos_token}): instead of
     * the file's own template (llama.cpp's {@code --chat-template-file}).
     */
    public JinjaChatFormat chatFormat(String jinjaTemplate) {
        Vocabulary vocabulary = vocabulary();
        String bos = vocabulary.bos() >= 0 ? vocabulary.text(vocabulary.bos()) : "";
        String eos = vocabulary.eos() >= 0 ? vocabulary.text(vocabulary.eos()) : "";
        return new JinjaChatFormat(jinjaTemplate, bos, eos);
    }

    /** A chat with the model's default format and {@code systemPrompt} (none when null or empty). */
    public Chat newChat(String systemPrompt) {
        return newChat(systemPrompt, defaultChatFormat());
    }

    public Chat newChat(String systemPrompt, ChatFormat format) {
        Chat chat = new Chat(this, newEvaluator(), format, systemPrompt);
        sessions.remove(chat.evaluator);
        sessions.add(chat);
        return chat;
    }

    /** Completion of raw prompts, without a chat format. */
    public Completion newCompletion() {
        Completion completion = new Completion(this, newEvaluator());
        sessions.remove(completion.evaluator);
        sessions.add(completion);
        return completion;
    }

    /**
     * Low-level access: an evaluator that turns token ids into logits, with this model's context
     * length, batch size, cache types and the cache's device share ({@code --kv-device-memory}). Closed with the model if not before.
     */
    public Evaluator newEvaluator() {
        checkOpen();
        Evaluator evaluator = new Evaluator(model, contextLength, options.batchSize(), options.cacheTypes(), kvDeviceBytes());
        sessions.add(evaluator);
        return evaluator;
    }

    /** What tells this model's file from another's, with its size: sessions saved with it carry it; a server lists it. */
    public GgufFingerprint fingerprint() {
        checkOpen();
        return model.fingerprint();
    }

    /**
     * Saves one sequence's state ({@link BatchEvaluator#save}) to {@code file}, in the format of
     * {@link Completion#save}'s files, so that {@link #readSequenceState} gives it back later, in this
     * process or another, for this model file and ggml pin. The file is written beside {@code file} and
     * moved over it once complete.
     *
     * @throws java.io.UncheckedIOException when it cannot be written; an existing file is then untouched
     */
    public void writeSequenceState(Path file, SequenceState state) {
        writeSession(file, List.of(), state);
    }

    /** Writes a session file of this model and pin: {@code messages} (a chat's; none for a sequence) and {@code state}. */
    void writeSession(Path file, List<Message> messages, SequenceState state) {
        checkOpen();
        SessionFile.write(file, new SessionFile.Contents(NativePin.current(), fileName(), fingerprint(), messages, state));
    }

    /**
     * A sequence's state that {@link #writeSequenceState} (or a completion's {@code save}) wrote for this
     * model file and ggml pin, for {@link BatchEvaluator#restore}.
     *
     * @throws SessionFileException when the file is missing, not a session, truncated, damaged, or saved
     *                              with another model or pin
     */
    public SequenceState readSequenceState(Path file) {
        return readSession(file).state();
    }

    /** A session file's contents, once checked to be saved for this model file and ggml pin. */
    SessionFile.Contents readSession(Path file) {
        checkOpen();
        SessionFile.Contents contents = SessionFile.read(file);
        SessionFile.requireMadeFor(file, contents, NativePin.current(), fileName(), fingerprint());
        return contents;
    }

    /** The model file's name, for messages. */
    String fileName() {
        return model.path().getFileName().toString();
    }

    /**
     * One sequence's generation after {@code prompt} with {@code options} (under its JSON schema or
     * grammar, if any), its text going to {@code sink}: what a loop that evaluates the sequence itself, such as a
     * server's batched one over {@link #newBatchEvaluator}, steps token by token.
     */
    public SequenceGeneration newGeneration(int[] prompt, GenerationOptions options, java.util.function.Consumer<String> sink) {
        checkOpen();
        return new SequenceGeneration(tokenizer, prompt, options, sink,
                options.structure() == null ? null : options.structure().constraint(vocabularyTrie(), tokenizer));
    }

    /**
     * Low-level access for continuous batching (a server's parallel requests): an evaluator of up to
     * {@code sequences} sequences that share one KV cache of this model's context length, with its batch
     * size and cache types. Closed with the model if not before.
     */
    public BatchEvaluator newBatchEvaluator(int sequences) {
        checkOpen();
        BatchEvaluator evaluator = new BatchEvaluator(model, contextLength, options.batchSize(), sequences, options.cacheTypes(),
                kvDeviceBytes());
        sessions.add(evaluator);
        return evaluator;
    }

    /**
     * An {@link Embedder} of this model: its texts' hidden states pooled as {@code pooling} says, up to
     * {@code batchTexts} texts evaluated together, in a KV cache of its own of this model's context, all of it in
     * host memory (committed as it is written), so that it takes nothing from the devices the model was fitted to.
     * Closed with the model if not before.
     */
    public Embedder newEmbedder(Embedder.Pooling pooling, int batchTexts) {
        checkOpen();
        BatchEvaluator evaluator = new BatchEvaluator(model, contextLength, options.batchSize(), batchTexts, options.cacheTypes(),
                0, GraphOutput.EMBEDDINGS);
        for (int sequence = 0; sequence < batchTexts; sequence++) {
            evaluator.open(sequence);
        }
        sessions.add(evaluator);
        return new Embedder(evaluator, tokenizer, pooling, model.config().dims().embedding());
    }

    /**
     * A KV cache of this model's context that up to {@code sequences} chats and completions made from it
     * hold their sequences in, sharing the cells of a common start, such as a system prompt, instead of
     * each computing and keeping its own ({@link SharedContext}). Closed with the model if not before.
     */
    public SharedContext newSharedContext(int sequences) {
        BatchEvaluator cache = newBatchEvaluator(sequences);
        sessions.remove(cache);   // the context closes it
        SharedContext context = new SharedContext(this, cache);
        sessions.add(context);
        return context;
    }

    /** The KV cache's share of the devices the plan made room for (all of it without devices). */
    private long kvDeviceBytes() {
        return plan.map(p -> p.trial().kvDeviceBytes()).orElse(FitOptions.KV_ALL);
    }

    void forget(AutoCloseable session) {
        sessions.remove(session);
    }

    void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the model is closed");
        }
    }

    /**
     * What the expert cache did since the model opened or since {@link #resetExpertCacheStatistics()}:
     * hit rate, hits, misses and loads per cached layer; empty without a cache.
     */
    public Optional<ExpertCacheStatistics> expertCacheStatistics() {
        checkOpen();
        // Under the compute lock: a server's decode thread counts while another thread asks.
        ExpertCacheStatistics[] snapshot = new ExpertCacheStatistics[1];
        model.computeAlone(() -> snapshot[0] = model.expertCache().map(ExpertCache::statistics).orElse(null));
        return Optional.ofNullable(snapshot[0]);
    }

    /** The expert cache in one line (its experts per layer, layers, device memory, policy); empty without one. */
    public Optional<String> expertCacheDescription() {
        checkOpen();
        return model.expertCache().map(ExpertCache::describe);
    }

    /** Starts the expert cache's statistics afresh (a benchmark after its warm-up). */
    public void resetExpertCacheStatistics() {
        checkOpen();
        model.computeAlone(() -> model.expertCache().ifPresent(ExpertCache::resetStatistics));
    }

    /**
     * Closes every chat and completion still open, then the model; with {@code --expert-cache-profile}
     * the cache's ranking is saved to the profile file first.
     *
     * @throws java.io.UncheckedIOException when the profile cannot be written (the model is closed all the same)
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        try {
            saveRoutingProfile();
        } finally {
            closeSessionsAndModel();
        }
    }

    private void saveRoutingProfile() {
        Optional<Path> profile = options.expertCache().profile();
        Optional<ExpertCache> cache = model.expertCache();
        if (profile.isPresent() && cache.isPresent()) {
            try {
                RoutingProfile.save(cache.get(), profile.get());
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot save the routing profile to " + profile.get(), e);
            }
        }
    }

    private void closeSessionsAndModel() {
        if (closed) {
            return;
        }
        closed = true;
        for (AutoCloseable session : java.util.List.copyOf(sessions)) {
            try {
                session.close();
            } catch (Exception ignored) {
                // each session frees what it owns; nothing to add
            }
        }
        model.close();
    }
}
