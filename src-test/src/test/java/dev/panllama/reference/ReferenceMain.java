package dev.panllama.reference;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.GraphNode;
import dev.panllama.reference.llama.Llama;
import dev.panllama.reference.llama.llama_batch;
import dev.panllama.reference.llama.llama_context_params;
import dev.panllama.reference.llama.llama_model_params;
import dev.panllama.reference.llama.llama_model_tensor_buft_override;
import dev.panllama.reference.llama.llama_token_data;
import dev.panllama.reference.llama.llama_token_data_array;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * The reference side of the parity tests: llama.cpp's libllama from the reference build, run in a
 * process of its own so that its ggml never meets panllama's. {@link Reference} starts it.
 *
 * <pre>
 * logits   MODEL TOKENS OUT UBATCH THREADS CTX FIRST_OUTPUT CACHE
 *                                                             evaluate the prompt in one batch, write float32
 *                                                             logits of positions FIRST_OUTPUT.. row by row
 * generate MODEL TOKENS OUT UBATCH THREADS CTX STEPS CACHE    greedy continuation, int32 ids
 * tokenize MODEL TEXTS OUT ADD_SPECIAL PARSE_SPECIAL          TEXTS holds texts separated by NUL; OUT holds,
 *                                                             per text, its id count then its ids (int32)
 * specials MODEL OUT                                          the vocabulary's fill-in-the-middle prefix, suffix and
 *                                                             middle ids (-1: none), then every end-of-generation id (int32)
 * trace    MODEL TOKENS GRAPHS LOGITS UBATCH THREADS CTX PROMPT FIRST_OUTPUT CACHE
 *                                                             evaluate the first PROMPT tokens one micro-batch per
 *                                                             llama_decode (as llama_decode splits a batch), logits from
 *                                                             FIRST_OUTPUT on, then each further token alone; LOGITS gets
 *                                                             those rows (float32), GRAPHS the nodes of the last
 *                                                             micro-batch's graph and of the first one-token step's, as
 *                                                             the eval callback sees them ({@link GraphNode} lines,
 *                                                             "#decode" between)
 * filters  LOGITS CHAINS OUT                                   no model: llama.cpp's samplers over LOGITS (float32), once per
 *                                                             line of CHAINS ("TOP_N_SIGMA TOP_K TYPICAL_P TOP_P MIN_P
 *                                                             XTC_PROBABILITY XTC_THRESHOLD TEMPERATURE DYNATEMP_RANGE
 *                                                             DYNATEMP_EXPONENT", chained in llama.cpp's order; or "order
 *                                                             NAMES ADAPTIVE_TARGET ADAPTIVE_DECAY" then those numbers: the
 *                                                             samplers NAMES (comma-separated llama.cpp names, "-" for none)
 *                                                             in that order, adaptive_p last as llama.cpp puts it; or "mirostat
 *                                                             VERSION TAU ETA TEMPERATURE": the temperature and Mirostat's
 *                                                             first step, the tokens it drew from; or "dry MULTIPLIER BASE
 *                                                             ALLOWED_LENGTH PENALTY_LAST_N BREAKERS", BREAKERS the UTF-8 hex
 *                                                             of each breaker, comma-separated, or "-" for none: DRY alone,
 *                                                             over VOCAB's vocabulary after HISTORY's tokens (int32), the two
 *                                                             files given after OUT);
 *                                                             OUT holds, per chain, the count, the ids left that the draw
 *                                                             can take (not masked to -inf), then their probabilities
 *                                                             (float32 bits), all as int32
 * grammar  VOCAB GRAMMAR TOKENS OUT                           no model but VOCAB's vocabulary: llama.cpp's grammar sampler of
 *                                                             GRAMMAR (a GBNF file, root rule "root") over the whole
 *                                                             vocabulary, before each of TOKENS (int32) and after the last,
 *                                                             each accepted in turn; OUT holds per step the count and ids
 *                                                             the grammar leaves (int32), or only -1 when libllama refuses
 *                                                             the grammar
 * batches  MODEL SCRIPT OUT UBATCH THREADS CTX SEQUENCES CACHE
 *                                                             one context of SEQUENCES sequences in llama.cpp's unified
 *                                                             cache (kv_unified, n_seq_max) runs SCRIPT's steps (int32):
 *                                                             {@value #STEP_DECODE} ENTRIES then per entry SEQUENCE COUNT
 *                                                             FIRST_OUTPUT and COUNT tokens: one llama_decode, each entry's
 *                                                             tokens at its sequence's next positions, logits of its tokens
 *                                                             FIRST_OUTPUT.. (written to OUT in batch order, float32);
 *                                                             {@value #STEP_KEEP} SEQUENCE POSITION: forget the sequence's
 *                                                             positions from POSITION on (llama_memory_seq_rm);
 *                                                             {@value #STEP_SHARE} FROM TO LENGTH: sequence TO shares FROM's
 *                                                             first LENGTH positions (llama_memory_seq_cp)
 * </pre>
 * CACHE is {@code exact} (F32 keys and values, no flash attention) or the key and value types with flash
 * attention, as llama.cpp's {@code -ctk} and {@code -ctv} name them: {@code f16,f16}, {@code q8_0,f16}, ...
 * {@code logits} and {@code generate} take, after their arguments, llama.cpp's offloading options:
 * {@code --rpc=HOST:PORT[,...]}, {@code --ngl=N}, {@code --ot=PATTERN=BUFFER} (repeated),
 * {@code --cpu-moe}, {@code --n-cpu-moe=N}.
 * MODEL may hold only a vocabulary for {@code tokenize} and {@code specials}.
 * Token files are little-endian int32.
 */
public final class ReferenceMain {

    /** Names another reference build's bin folder (the CUDA one, say) instead of the default. */
    static final String BINARIES_ENV = "PANLLAMA_REFERENCE_BIN";
    private static final int FLASH_ATTN_DISABLED = 0;
    private static final int FLASH_ATTN_ENABLED = 1;
    static final int STEP_DECODE = 1;
    static final int STEP_KEEP = 2;
    static final int STEP_SHARE = 3;

    private ReferenceMain() {
    }

    public static void main(String[] args) throws IOException {
        Path library = binaries().resolve("libllama.so");
        // ggml's own libraries first, by the same files libllama links, so that their symbols can be looked up.
        System.load(binaries().resolve("libggml-base.so").toString());
        System.load(binaries().resolve("libggml.so").toString());
        System.load(library.toString());
        Llama.llama_backend_init();
        if (args[0].equals("filters")) {
            filters(args);
            return;
        }
        if (args[0].equals("grammar")) {
            grammar(args);
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment modelParams = Llama.llama_model_default_params(arena);
            llama_model_params.vocab_only(modelParams, args[0].equals("tokenize") || args[0].equals("specials"));
            if (args[0].equals("logits") || args[0].equals("generate")) {
                offload(arena, modelParams, java.util.Arrays.copyOfRange(args, 9, args.length));
            }
            MemorySegment model = Llama.llama_model_load_from_file(arena.allocateFrom(args[1]), modelParams);
            if (model.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("libllama could not load " + args[1]);
            }
            MemorySegment vocab = Llama.llama_model_get_vocab(model);
            switch (args[0]) {
                case "tokenize" -> {
                    boolean addSpecial = Boolean.parseBoolean(args[4]);
                    boolean parseSpecial = Boolean.parseBoolean(args[5]);
                    java.util.List<Integer> out = new java.util.ArrayList<>();
                    for (String text : Files.readString(Path.of(args[2])).split("\0", -1)) {
                        int[] ids = tokenize(arena, vocab, text, addSpecial, parseSpecial);
                        out.add(ids.length);
                        for (int id : ids) {
                            out.add(id);
                        }
                    }
                    writeInts(Path.of(args[3]), out.stream().mapToInt(Integer::intValue).toArray());
                }
                case "specials" -> {
                    java.util.List<Integer> out = new java.util.ArrayList<>(java.util.List.of(Llama.llama_vocab_fim_pre(vocab),
                            Llama.llama_vocab_fim_suf(vocab), Llama.llama_vocab_fim_mid(vocab)));
                    for (int id = 0; id < Llama.llama_vocab_n_tokens(vocab); id++) {
                        if (Llama.llama_vocab_is_eog(vocab, id)) {
                            out.add(id);
                        }
                    }
                    writeInts(Path.of(args[2]), out.stream().mapToInt(Integer::intValue).toArray());
                }
                case "logits", "generate" -> {
                    int[] tokens = readInts(Path.of(args[2]));
                    int ubatch = Integer.parseInt(args[4]);
                    int threads = Integer.parseInt(args[5]);
                    int contextLength = Integer.parseInt(args[6]);
                    int last = Integer.parseInt(args[7]);
                    MemorySegment context = newContext(arena, model, tokens.length, ubatch, threads, contextLength, args[8]);
                    int nVocab = Llama.llama_vocab_n_tokens(vocab);
                    if (args[0].equals("logits")) {
                        writeLogits(Path.of(args[3]), decode(context, tokens, 0, last), last, tokens.length - last, nVocab);
                    } else {
                        writeInts(Path.of(args[3]), greedy(context, tokens, last, nVocab));
                    }
                    Llama.llama_free(context);
                }
                case "trace" -> trace(arena, model, vocab, args);
                case "batches" -> batches(arena, model, vocab, args);
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            }
            Llama.llama_model_free(model);
        }
    }

    /**
     * Applies llama.cpp's offloading options to the model parameters as its common argument parser
     * does: RPC servers registered with ggml (whose devices libllama then uses first), {@code n_gpu_layers},
     * {@code tensor_split}, and tensor buffer overrides, {@code --cpu-moe} and {@code --n-cpu-moe} becoming the patterns
     * common.h writes for them.
     */
    private static void offload(Arena arena, MemorySegment modelParams, String[] options) {
        java.util.List<String[]> overrides = new java.util.ArrayList<>();
        boolean cpuMoe = false;
        int cpuMoeLayers = 0;
        for (String option : options) {
            if (option.startsWith("--rpc=")) {
                for (String endpoint : option.substring(6).split(",")) {
                    GgmlCalls.addRpcServer(arena, endpoint);
                }
            } else if (option.startsWith("--ngl=")) {
                llama_model_params.n_gpu_layers(modelParams, Integer.parseInt(option.substring(6)));
            } else if (option.startsWith("--ot=")) {
                String value = option.substring(5);
                int equals = value.indexOf('=');
                overrides.add(new String[] {value.substring(0, equals), value.substring(equals + 1)});
            } else if (option.equals("--cpu-moe")) {
                cpuMoe = true;
            } else if (option.startsWith("--n-cpu-moe=")) {
                cpuMoeLayers = Integer.parseInt(option.substring(12));
            } else if (option.startsWith("--ts=")) {
                // libllama reads one proportion per device it uses, up to llama_max_devices().
                String[] shares = option.substring(5).split(",");
                MemorySegment split = arena.allocate(ValueLayout.JAVA_FLOAT, Math.max(Llama.llama_max_devices(), shares.length));
                for (int i = 0; i < shares.length; i++) {
                    split.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.parseFloat(shares[i]));
                }
                llama_model_params.tensor_split(modelParams, split);
            } else {
                throw new IllegalArgumentException("unknown option " + option);
            }
        }
        String experts = "\\.ffn_(up|down|gate|gate_up)_(ch|)exps";
        if (cpuMoe) {
            overrides.add(new String[] {experts, "CPU"});
        }
        for (int i = 0; i < cpuMoeLayers; i++) {
            overrides.add(new String[] {"blk\\." + i + experts, "CPU"});
        }
        if (overrides.isEmpty()) {
            return;
        }
        long stride = llama_model_tensor_buft_override.layout().byteSize();
        MemorySegment array = arena.allocate(stride * (overrides.size() + 1));   // zeroed: the last entry ends the list
        for (int i = 0; i < overrides.size(); i++) {
            MemorySegment entry = array.asSlice(i * stride, stride);
            llama_model_tensor_buft_override.pattern(entry, arena.allocateFrom(overrides.get(i)[0]));
            llama_model_tensor_buft_override.buft(entry, GgmlCalls.bufferTypeNamed(arena, overrides.get(i)[1]));
        }
        llama_model_params.tensor_buft_overrides(modelParams, array);
    }

    private static void trace(Arena arena, MemorySegment model, MemorySegment vocab, String[] args) throws IOException {
        int[] tokens = readInts(Path.of(args[2]));
        int ubatch = Integer.parseInt(args[5]);
        int threads = Integer.parseInt(args[6]);
        int contextLength = Integer.parseInt(args[7]);
        int promptLength = Integer.parseInt(args[8]);
        int firstOutput = Integer.parseInt(args[9]);
        GraphCapture capture = new GraphCapture();
        MemorySegment params = contextParams(arena, promptLength, ubatch, threads, contextLength, args[10]);
        llama_context_params.cb_eval(params, capture.stub(arena));
        MemorySegment context = newContext(model, params);
        int nVocab = Llama.llama_vocab_n_tokens(vocab);
        List<String> graphs = new ArrayList<>();
        try (FileChannel logits = FileChannel.open(Path.of(args[4]), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            for (int from = 0; from < promptLength; from += ubatch) {
                int to = Math.min(promptLength, from + ubatch);
                capture.start(to == promptLength);
                int batchFirstOutput = Math.min(Math.max(firstOutput - from, 0), to - from);
                decode(context, Arrays.copyOfRange(tokens, from, to), from, batchFirstOutput);
                writeRows(logits, context, batchFirstOutput, to - from - batchFirstOutput, nVocab);
            }
            capture.nodes().forEach(n -> graphs.add(n.toLine()));
            graphs.add("#decode");
            for (int position = promptLength; position < tokens.length; position++) {
                capture.start(position == promptLength);
                decode(context, new int[] {tokens[position]}, position, 0);
                if (position == promptLength) {
                    capture.nodes().forEach(n -> graphs.add(n.toLine()));
                }
                writeRows(logits, context, 0, 1, nVocab);
            }
        }
        Files.write(Path.of(args[3]), graphs);
        Llama.llama_free(context);
    }

    /**
     * The eval callback: while a graph is being captured, records each node the scheduler asks about,
     * in order. It asks for no node's data, so the scheduler computes the graph in one piece, as it
     * does without a callback.
     */
    private static final class GraphCapture {
        private final List<GraphNode> nodes = new ArrayList<>();
        private final Map<Long, Integer> indices = new HashMap<>();
        private boolean capturing;

        void start(boolean capture) {
            capturing = capture;
            nodes.clear();
            indices.clear();
        }

        List<GraphNode> nodes() {
            return List.copyOf(nodes);
        }

        MemorySegment stub(Arena arena) {
            try {
                MethodHandle observe = MethodHandles.lookup().findVirtual(GraphCapture.class, "observe",
                        MethodType.methodType(boolean.class, MemorySegment.class, boolean.class, MemorySegment.class)).bindTo(this);
                return Linker.nativeLinker().upcallStub(observe,
                        FunctionDescriptor.of(ValueLayout.JAVA_BOOLEAN, ValueLayout.ADDRESS, ValueLayout.JAVA_BOOLEAN, ValueLayout.ADDRESS), arena);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }

        @SuppressWarnings("unused") // called by the scheduler through the upcall stub
        boolean observe(MemorySegment tensor, boolean ask, MemorySegment userData) {
            if (capturing && ask) {
                nodes.add(GraphNode.read(tensor, indices));
                indices.put(tensor.address(), nodes.size() - 1);
            }
            return false;
        }
    }

    /** The reference build's bin folder: {@value #BINARIES_ENV}, else the default reference build. */
    public static Path binaries() {
        String override = System.getenv(BINARIES_ENV);
        return override != null && !override.isBlank() ? Path.of(override) : UserCache.user().referenceBinaries(NativePin.current());
    }

    private static MemorySegment newContext(Arena arena, MemorySegment model, int tokens, int ubatch, int threads, int contextLength,
                                            String cache) {
        return newContext(model, contextParams(arena, tokens, ubatch, threads, contextLength, cache));
    }

    /** The context's parameters, its cache as CACHE says (see the class comment). */
    private static MemorySegment contextParams(Arena arena, int tokens, int ubatch, int threads, int contextLength, String cache) {
        boolean exact = cache.equals("exact");
        String[] types = exact ? new String[] {"f32", "f32"} : cache.split(",");
        if (types.length != 2) {
            throw new IllegalArgumentException("the cache must be exact or K,V types, not " + cache);
        }
        MemorySegment params = Llama.llama_context_default_params(arena);
        llama_context_params.n_ctx(params, contextLength);
        llama_context_params.n_batch(params, Math.max(tokens, ubatch));
        llama_context_params.n_ubatch(params, ubatch);
        llama_context_params.n_threads(params, threads);
        llama_context_params.n_threads_batch(params, threads);
        llama_context_params.flash_attn_type(params, exact ? FLASH_ATTN_DISABLED : FLASH_ATTN_ENABLED);
        llama_context_params.type_k(params, GgmlType.valueOf(types[0].toUpperCase(java.util.Locale.ROOT)).id());
        llama_context_params.type_v(params, GgmlType.valueOf(types[1].toUpperCase(java.util.Locale.ROOT)).id());
        llama_context_params.no_perf(params, true);
        // As llama.cpp's tools run it (common's swa_full = false): chunked layers keep chunk + ubatch
        // cells, reused as positions leave the chunk, as panllama's cache does. libllama's own default
        // (a full-size cache, every position in its own cell) orders the keys differently.
        llama_context_params.swa_full(params, false);
        return params;
    }

    private static MemorySegment newContext(MemorySegment model, MemorySegment params) {
        MemorySegment context = Llama.llama_init_from_model(model, params);
        if (context.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("libllama could not create a context");
        }
        return context;
    }

    /** Decodes {@code tokens} of sequence 0 at positions start.., asking for logits from index firstOutput on; returns the context. */
    private static MemorySegment decode(MemorySegment context, int[] tokens, int start, int firstOutput) {
        int[] positions = new int[tokens.length];
        boolean[] wanted = new boolean[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            positions[i] = start + i;
            wanted[i] = i >= firstOutput;
        }
        decode(context, tokens, new int[tokens.length], positions, wanted);
        return context;
    }

    /** One llama_decode of token {@code i} at {@code positions[i]} of sequence {@code sequences[i]}, with logits where {@code wanted[i]}. */
    private static void decode(MemorySegment context, int[] tokens, int[] sequences, int[] positions, boolean[] wanted) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment batch = Llama.llama_batch_init(arena, tokens.length, 0, 1);
            llama_batch.n_tokens(batch, tokens.length);
            MemorySegment token = llama_batch.token(batch).reinterpret(4L * tokens.length);
            MemorySegment pos = llama_batch.pos(batch).reinterpret(4L * tokens.length);
            MemorySegment nSeq = llama_batch.n_seq_id(batch).reinterpret(4L * tokens.length);
            MemorySegment seqIds = llama_batch.seq_id(batch).reinterpret(8L * tokens.length);
            MemorySegment logits = llama_batch.logits(batch).reinterpret(tokens.length);
            for (int i = 0; i < tokens.length; i++) {
                token.setAtIndex(ValueLayout.JAVA_INT, i, tokens[i]);
                pos.setAtIndex(ValueLayout.JAVA_INT, i, positions[i]);
                nSeq.setAtIndex(ValueLayout.JAVA_INT, i, 1);
                seqIds.getAtIndex(ValueLayout.ADDRESS, i).reinterpret(4).set(ValueLayout.JAVA_INT, 0, sequences[i]);
                logits.set(ValueLayout.JAVA_BYTE, i, (byte) (wanted[i] ? 1 : 0));
            }
            int status = Llama.llama_decode(context, batch);
            if (status != 0) {
                throw new IllegalStateException("llama_decode returned " + status);
            }
            Llama.llama_batch_free(batch);
        }
    }

    /** The {@code batches} mode: several sequences in one unified cache, driven by a script of steps. */
    private static void batches(Arena arena, MemorySegment model, MemorySegment vocab, String[] args) throws IOException {
        int[] script = readInts(Path.of(args[2]));
        int ubatch = Integer.parseInt(args[4]);
        int threads = Integer.parseInt(args[5]);
        int contextLength = Integer.parseInt(args[6]);
        int sequences = Integer.parseInt(args[7]);
        MemorySegment params = contextParams(arena, largestDecode(script), ubatch, threads, contextLength, args[8]);
        llama_context_params.n_seq_max(params, sequences);
        llama_context_params.kv_unified(params, true);
        MemorySegment context = newContext(model, params);
        MemorySegment memory = Llama.llama_get_memory(context);
        int nVocab = Llama.llama_vocab_n_tokens(vocab);
        try (FileChannel out = FileChannel.open(Path.of(args[3]), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            for (int at = 0; at < script.length; ) {
                int step = script[at++];
                if (step == STEP_KEEP) {
                    Llama.llama_memory_seq_rm(memory, script[at], script[at + 1], -1);
                    at += 2;
                    continue;
                }
                if (step == STEP_SHARE) {
                    Llama.llama_memory_seq_cp(memory, script[at], script[at + 1], 0, script[at + 2]);
                    at += 3;
                    continue;
                }
                if (step != STEP_DECODE) {
                    throw new IllegalArgumentException("unknown step " + step);
                }
                int entries = script[at++];
                int room = script.length - at;   // more than the step's tokens
                int[] tokens = new int[room];
                int[] sequenceOf = new int[room];
                int[] positionOf = new int[room];
                boolean[] wanted = new boolean[room];
                int n = 0;
                for (int e = 0; e < entries; e++) {
                    int sequence = script[at++];
                    int count = script[at++];
                    int firstOutput = script[at++];
                    int next = Llama.llama_memory_seq_pos_max(memory, sequence) + 1;
                    for (int i = 0; i < count; i++, n++) {
                        tokens[n] = script[at++];
                        sequenceOf[n] = sequence;
                        positionOf[n] = next + i;
                        wanted[n] = i >= firstOutput;
                    }
                }
                decode(context, Arrays.copyOf(tokens, n), Arrays.copyOf(sequenceOf, n), Arrays.copyOf(positionOf, n),
                        Arrays.copyOf(wanted, n));
                for (int i = 0; i < n; i++) {
                    if (wanted[i]) {
                        writeRows(out, context, i, 1, nVocab);
                    }
                }
            }
        }
        Llama.llama_free(context);
    }

    /** The most tokens one decode step of {@code script} holds: the context's {@code n_batch}. */
    private static int largestDecode(int[] script) {
        int largest = 1;
        for (int at = 0; at < script.length; ) {
            int step = script[at++];
            if (step == STEP_KEEP || step == STEP_SHARE) {
                at += step == STEP_KEEP ? 2 : 3;
                continue;
            }
            int entries = script[at++];
            int total = 0;
            for (int e = 0; e < entries; e++) {
                int count = script[at + 1];
                total += count;
                at += 3 + count;
            }
            largest = Math.max(largest, total);
        }
        return largest;
    }

    private static int[] greedy(MemorySegment context, int[] prompt, int steps, int nVocab) {
        int[] generated = new int[steps];
        decode(context, prompt, 0, prompt.length - 1);
        int position = prompt.length;
        for (int step = 0; step < steps; step++) {
            MemorySegment row = Llama.llama_get_logits_ith(context, -1).reinterpret(4L * nVocab);
            int best = argmax(row, nVocab);
            generated[step] = best;
            decode(context, new int[] {best}, position++, 0);
        }
        return generated;
    }

    private static int argmax(MemorySegment row, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (row.getAtIndex(ValueLayout.JAVA_FLOAT, i) > row.getAtIndex(ValueLayout.JAVA_FLOAT, best)) {
                best = i;
            }
        }
        return best;
    }

    private static int[] tokenize(Arena arena, MemorySegment vocab, String text, boolean addSpecial, boolean parseSpecial) {
        MemorySegment utf8 = arena.allocateFrom(text);
        int length = (int) utf8.byteSize() - 1;
        int capacity = length + 16;
        MemorySegment ids = arena.allocate(ValueLayout.JAVA_INT, capacity);
        int n = Llama.llama_tokenize(vocab, utf8, length, ids, capacity, addSpecial, parseSpecial);
        if (n < 0) {
            throw new IllegalStateException("llama_tokenize needs room for " + -n + " tokens");
        }
        return ids.asSlice(0, 4L * n).toArray(ValueLayout.JAVA_INT);
    }

    private static void writeLogits(Path out, MemorySegment context, int first, int rows, int nVocab) throws IOException {
        try (FileChannel channel = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeRows(channel, context, first, rows, nVocab);
        }
    }

    /** Appends the logits of the last decode's rows {@code first .. first + rows - 1} (batch indices). */
    private static void writeRows(FileChannel channel, MemorySegment context, int first, int rows, int nVocab) throws IOException {
        for (int i = 0; i < rows; i++) {
            ByteBuffer row = Llama.llama_get_logits_ith(context, first + i).reinterpret(4L * nVocab).asByteBuffer();
            while (row.hasRemaining()) {
                channel.write(row);
            }
        }
    }

    /** The {@code filters} mode: each chain of samplers applied to a fresh copy of the logits. */
    private static void filters(String[] args) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(Path.of(args[1]))).order(ByteOrder.LITTLE_ENDIAN);
        float[] logits = new float[bytes.remaining() / 4];
        bytes.asFloatBuffer().get(logits);
        List<Integer> out = new ArrayList<>();
        MemorySegment vocab = MemorySegment.NULL;
        int[] history = new int[0];
        if (args.length > 5) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment params = Llama.llama_model_default_params(arena);
                llama_model_params.vocab_only(params, true);
                MemorySegment model = Llama.llama_model_load_from_file(arena.allocateFrom(args[4]), params);
                if (model.equals(MemorySegment.NULL)) {
                    throw new IllegalStateException("libllama could not load " + args[4]);
                }
                vocab = Llama.llama_model_get_vocab(model);
            }
            history = readInts(Path.of(args[5]));
        }
        for (String line : Files.readAllLines(Path.of(args[2]))) {
            String[] p = line.trim().split(" ");
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment chain = Llama.llama_sampler_chain_init(Llama.llama_sampler_chain_default_params(arena));
                if (p[0].equals("dry")) {
                    String[] breakers = p[5].equals("-") ? new String[0] : p[5].split(",");
                    MemorySegment texts = arena.allocate(ValueLayout.ADDRESS, Math.max(1, breakers.length));
                    for (int i = 0; i < breakers.length; i++) {
                        texts.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(new String(HexFormat.of().parseHex(breakers[i]), StandardCharsets.UTF_8)));
                    }
                    Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_dry(vocab, Float.parseFloat(p[1]), Float.parseFloat(p[2]),
                            Integer.parseInt(p[3]), Integer.parseInt(p[4]), texts, breakers.length));
                    for (int token : history) {
                        Llama.llama_sampler_accept(chain, token);
                    }
                } else if (p[0].equals("mirostat")) {
                    float tau = Float.parseFloat(p[2]);
                    float eta = Float.parseFloat(p[3]);
                    Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_temp(Float.parseFloat(p[4])));
                    Llama.llama_sampler_chain_add(chain, p[1].equals("1")
                            ? Llama.llama_sampler_init_mirostat(logits.length, 1, tau, eta, 100)
                            : Llama.llama_sampler_init_mirostat_v2(1, tau, eta));
                } else if (p[0].equals("order")) {
                    String[] q = java.util.Arrays.copyOfRange(p, 4, p.length);
                    List<String> names = p[1].equals("-") ? List.of() : List.of(p[1].split(","));
                    for (String name : names) {
                        if (name.equals("adaptive_p")) {
                            continue;
                        }
                        Llama.llama_sampler_chain_add(chain, switch (name) {
                            case "top_n_sigma" -> Llama.llama_sampler_init_top_n_sigma(Float.parseFloat(q[0]));
                            case "top_k" -> Llama.llama_sampler_init_top_k(Integer.parseInt(q[1]));
                            case "typ_p" -> Llama.llama_sampler_init_typical(Float.parseFloat(q[2]), 0);
                            case "top_p" -> Llama.llama_sampler_init_top_p(Float.parseFloat(q[3]), 0);
                            case "min_p" -> Llama.llama_sampler_init_min_p(Float.parseFloat(q[4]), 0);
                            case "xtc" -> Llama.llama_sampler_init_xtc(Float.parseFloat(q[5]), Float.parseFloat(q[6]), 0, 1);
                            case "temperature" -> Llama.llama_sampler_init_temp_ext(Float.parseFloat(q[7]), Float.parseFloat(q[8]),
                                    Float.parseFloat(q[9]));
                            default -> throw new IllegalArgumentException("no sampler " + name);
                        });
                    }
                    if (names.contains("adaptive_p")) {
                        Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_adaptive_p(Float.parseFloat(p[2]), Float.parseFloat(p[3]), 1));
                    }
                } else {
                    Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_top_n_sigma(Float.parseFloat(p[0])));
                    Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_top_k(Integer.parseInt(p[1])));
                    Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_typical(Float.parseFloat(p[2]), 0));
                    Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_top_p(Float.parseFloat(p[3]), 0));
                    Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_min_p(Float.parseFloat(p[4]), 0));
                    Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_xtc(Float.parseFloat(p[5]), Float.parseFloat(p[6]), 0, 1));
                    Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_temp_ext(Float.parseFloat(p[7]),
                            Float.parseFloat(p[8]), Float.parseFloat(p[9])));
                }
                MemorySegment data = arena.allocate(llama_token_data.layout(), logits.length);
                for (int i = 0; i < logits.length; i++) {
                    MemorySegment token = llama_token_data.asSlice(data, i);
                    llama_token_data.id(token, i);
                    llama_token_data.logit(token, logits[i]);
                    llama_token_data.p(token, 0f);
                }
                MemorySegment array = llama_token_data_array.allocate(arena);
                llama_token_data_array.data(array, data);
                llama_token_data_array.size(array, logits.length);
                llama_token_data_array.selected(array, -1);
                llama_token_data_array.sorted(array, false);
                Llama.llama_sampler_apply(chain, array);
                long size = llama_token_data_array.size(array);
                // XTC drops its tokens by moving the array's start: read from where it points now.
                MemorySegment left = llama_token_data_array.data(array).reinterpret(size * llama_token_data.sizeof());
                // Only the tokens the draw can take (a masked one, top-n-sigma's, stays in the array at -inf), with
                // their probabilities from the logits as the chain's temperature left them.
                List<Integer> drawable = new ArrayList<>();
                List<Float> scaled = new ArrayList<>();
                float max = Float.NEGATIVE_INFINITY;
                for (long i = 0; i < size; i++) {
                    MemorySegment token = llama_token_data.asSlice(left, i);
                    if (llama_token_data.logit(token) != Float.NEGATIVE_INFINITY) {
                        drawable.add(llama_token_data.id(token));
                        scaled.add(llama_token_data.logit(token));
                        max = Math.max(max, llama_token_data.logit(token));
                    }
                }
                double sum = 0;
                for (float logit : scaled) {
                    sum += Math.exp(logit - max);
                }
                out.add(drawable.size());
                out.addAll(drawable);
                for (float logit : scaled) {
                    out.add(Float.floatToIntBits((float) (Math.exp(logit - max) / sum)));
                }
                Llama.llama_sampler_free(chain);
            }
        }
        writeInts(Path.of(args[3]), out.stream().mapToInt(Integer::intValue).toArray());
    }

    /** The {@code grammar} mode: the tokens the grammar leaves at each step of a token sequence it takes. */
    private static void grammar(String[] args) throws IOException {
        List<Integer> out = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = Llama.llama_model_default_params(arena);
            llama_model_params.vocab_only(params, true);
            MemorySegment model = Llama.llama_model_load_from_file(arena.allocateFrom(args[1]), params);
            if (model.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("libllama could not load " + args[1]);
            }
            MemorySegment vocab = Llama.llama_model_get_vocab(model);
            int size = Llama.llama_vocab_n_tokens(vocab);
            MemorySegment sampler = Llama.llama_sampler_init_grammar(vocab, arena.allocateFrom(Files.readString(Path.of(args[2]))),
                    arena.allocateFrom("root"));
            if (sampler.equals(MemorySegment.NULL)) {
                writeInts(Path.of(args[4]), new int[] {-1});
                return;
            }
            int[] tokens = readInts(Path.of(args[3]));
            MemorySegment data = arena.allocate(llama_token_data.layout(), size);
            MemorySegment array = llama_token_data_array.allocate(arena);
            for (int step = 0; step <= tokens.length; step++) {
                for (int i = 0; i < size; i++) {
                    MemorySegment token = llama_token_data.asSlice(data, i);
                    llama_token_data.id(token, i);
                    llama_token_data.logit(token, 0f);
                    llama_token_data.p(token, 0f);
                }
                llama_token_data_array.data(array, data);
                llama_token_data_array.size(array, size);
                llama_token_data_array.selected(array, -1);
                llama_token_data_array.sorted(array, false);
                Llama.llama_sampler_apply(sampler, array);
                List<Integer> allowed = new ArrayList<>();
                for (int i = 0; i < size; i++) {
                    MemorySegment token = llama_token_data.asSlice(data, i);
                    if (llama_token_data.logit(token) != Float.NEGATIVE_INFINITY) {
                        allowed.add(llama_token_data.id(token));
                    }
                }
                out.add(allowed.size());
                out.addAll(allowed);
                if (step < tokens.length) {
                    Llama.llama_sampler_accept(sampler, tokens[step]);
                }
            }
            Llama.llama_sampler_free(sampler);
        }
        writeInts(Path.of(args[4]), out.stream().mapToInt(Integer::intValue).toArray());
    }

    static int[] readInts(Path file) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        int[] values = new int[bytes.remaining() / 4];
        bytes.asIntBuffer().get(values);
        return values;
    }

    static void writeInts(Path file, int[] values) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asIntBuffer().put(values);
        Files.write(file, bytes.array());
    }
}
