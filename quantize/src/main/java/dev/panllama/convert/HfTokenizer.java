package dev.panllama.convert;

import dev.panllama.gguf.GgufArray;
import dev.panllama.gguf.GgufValue;
import dev.panllama.gguf.GgufValueType;
import dev.panllama.gguf.GgufWriter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A checkpoint's byte-level BPE tokenizer ({@code tokenizer.json}, {@code tokenizer_config.json}, a
 * chat template) as the {@code tokenizer.*} metadata llama.cpp's converter writes: the token list with
 * holes filled as {@code [PADn]}, token types (added tokens that are special or look like
 * {@code <|...|>} are control tokens), merges, the pre-tokenizer's llama.cpp name, the special token
 * ids, whether BOS/EOS are added, and the chat template.
 */
final class HfTokenizer {

    static final int NORMAL = 1, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5;

    /** The pre-tokenizer regexes of Llama 3's and Llama 4's tokenizer.json, by their llama.cpp names. */
    private static final Map<String, String> PRE_TOKENIZERS = Map.of(
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            "llama-bpe",
            "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
                    + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
                    + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            "llama4");
    private static final List<String> SPECIAL_TYPES = List.of("bos", "eos", "unk", "sep", "pad", "cls", "mask");
    private static final Map<String, String> ID_KEYS = Map.of("bos", "bos_token_id", "eos", "eos_token_id",
            "unk", "unknown_token_id", "sep", "seperator_token_id", "pad", "padding_token_id", "cls", "cls_token_id",
            "mask", "mask_token_id");

    private record AddedToken(int id, String content, boolean special) {
    }

    private final List<String> tokens;
    private final int[] types;
    private final List<String> merges;
    private final String preTokenizer;
    private final Map<String, Integer> specialIds;
    private final Map<String, Boolean> addSpecial;
    private final String chatTemplate;

    private HfTokenizer(List<String> tokens, int[] types, List<String> merges, String preTokenizer,
                        Map<String, Integer> specialIds, Map<String, Boolean> addSpecial, String chatTemplate) {
        this.tokens = tokens;
        this.types = types;
        this.merges = merges;
        this.preTokenizer = preTokenizer;
        this.specialIds = specialIds;
        this.addSpecial = addSpecial;
        this.chatTemplate = chatTemplate;
    }

    static HfTokenizer read(Path directory, HfConfig config) throws IOException {
        Path file = directory.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException(file + " is missing: panllama converts checkpoints with a tokenizer.json"
                    + " (byte-level BPE, as Llama 3 and 4 have)");
        }
        Map<String, Object> tokenizer = JsonFiles.readObject(file);
        Map<String, Object> model = object(file, tokenizer.get("model"));
        if (!"BPE".equals(model.get("type"))) {
            throw new CheckpointException(file + ": the tokenizer model is " + model.get("type") + "; panllama converts BPE tokenizers");
        }
        Map<String, Object> vocab = object(file, model.get("vocab"));
        List<AddedToken> added = new ArrayList<>();
        if (tokenizer.get("added_tokens") instanceof List<?> list) {
            for (Object item : list) {
                Map<String, Object> token = object(file, item);
                added.add(new AddedToken(id(file, token.get("id")), String.valueOf(token.get("content")),
                        Boolean.TRUE.equals(token.get("special"))));
            }
        }
        Map<Integer, String> byId = new HashMap<>();
        vocab.forEach((token, id) -> byId.put(id(file, id), token));
        Map<Integer, AddedToken> addedById = new HashMap<>();
        for (AddedToken token : added) {
            byId.put(token.id(), token.content());
            addedById.put(token.id(), token);
        }
        int largest = byId.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1);
        int size = config.findInt("vocab_size").orElse(largest + 1);
        if (largest >= size) {
            throw new CheckpointException(file + " has token id " + largest + ", past config.json's vocab_size " + size);
        }
        List<String> tokens = new ArrayList<>(size);
        int[] types = new int[size];
        for (int id = 0; id < size; id++) {
            String token = byId.get(id);
            AddedToken addedToken = addedById.get(id);
            if (token == null) {
                tokens.add("[PAD" + id + "]");
                types[id] = UNUSED;
            } else if (addedToken == null) {
                tokens.add(token);
                types[id] = NORMAL;
            } else if (addedToken.special() || looksSpecial(token)) {
                tokens.add(token);
                types[id] = CONTROL;
            } else {
                // llama.cpp expects user-defined tokens with plain spaces, not SentencePiece's.
                tokens.add(token.replace('\u2581', ' '));
                types[id] = USER_DEFINED;
            }
        }

        Map<String, Object> tokenizerConfig = Map.of();
        Path configFile = directory.resolve("tokenizer_config.json");
        if (Files.isRegularFile(configFile)) {
            tokenizerConfig = JsonFiles.readObject(configFile);
        }
        Map<String, Integer> specialIds = new LinkedHashMap<>();
        Map<String, Boolean> addSpecial = new LinkedHashMap<>();
        readPostProcessor(tokenizer, tokenizerConfig, addSpecial);
        for (String type : SPECIAL_TYPES) {
            if (tokenizerConfig.get("add_" + type + "_token") instanceof Boolean add) {
                addSpecial.put(type, add);
            }
            Object entry = tokenizerConfig.get(type + "_token");
            String content = entry instanceof String s ? s
                    : entry instanceof Map<?, ?> m && m.get("content") instanceof String s ? s : null;
            if (content != null) {
                added.stream().filter(t -> t.content().equals(content)).findFirst()
                        .ifPresent(t -> specialIds.putIfAbsent(type, t.id()));
            }
        }
        // config.json's ids only where the tokenizer named none; a list (Llama 4's eos) is not an id.
        for (String type : SPECIAL_TYPES) {
            config.find(type + "_token_id").ifPresent(value -> {
                if (value instanceof Double d && d == Math.rint(d) && d >= 0 && d < size) {
                    specialIds.putIfAbsent(type, d.intValue());
                }
            });
        }
        return new HfTokenizer(tokens, types, merges(file, model.get("merges")), preTokenizer(file, tokenizer),
                specialIds, addSpecial, chatTemplate(directory, tokenizerConfig).orElse(null));
    }

    /** A TemplateProcessing post-processor that starts with the BOS token means BOS is added. */
    private static void readPostProcessor(Map<String, Object> tokenizer, Map<String, Object> tokenizerConfig,
                                          Map<String, Boolean> addSpecial) {
        if (!(tokenizer.get("post_processor") instanceof Map<?, ?> post)) {
            return;
        }
        List<?> processors = post.get("processors") instanceof List<?> list ? list : List.of(post);
        for (Object item : processors) {
            if (item instanceof Map<?, ?> processor && "TemplateProcessing".equals(processor.get("type"))
                    && processor.get("single") instanceof List<?> single && single.size() > 1
                    && single.getFirst() instanceof Map<?, ?> first && first.get("SpecialToken") instanceof Map<?, ?> special) {
                Object bos = tokenizerConfig.get("bos_token");
                String bosContent = bos instanceof Map<?, ?> m ? String.valueOf(m.get("content")) : String.valueOf(bos);
                addSpecial.put("bos", tokenizerConfig.isEmpty() || bosContent.equals(special.get("id")));
            }
        }
    }

    private static List<String> merges(Path file, Object value) {
        List<String> merges = new ArrayList<>();
        if (!(value instanceof List<?> list)) {
            throw new CheckpointException(file + " has no BPE merges");
        }
        for (Object merge : list) {
            if (merge instanceof String s) {
                merges.add(s);
            } else if (merge instanceof List<?> pair && pair.size() == 2) {
                // The newer pair form allows spaces inside a part; the GGUF form writes them as U+0120.
                merges.add(String.valueOf(pair.get(0)).replace(' ', '\u0120') + " " + String.valueOf(pair.get(1)).replace(' ', '\u0120'));
            } else {
                throw new CheckpointException(file + ": a merge is neither \"a b\" nor [\"a\", \"b\"]: " + merge);
            }
        }
        return merges;
    }

    private static String preTokenizer(Path file, Map<String, Object> tokenizer) {
        List<String> patterns = new ArrayList<>();
        collectSplitPatterns(tokenizer.get("pre_tokenizer"), patterns);
        for (String pattern : patterns) {
            String name = PRE_TOKENIZERS.get(pattern);
            if (name != null) {
                return name;
            }
        }
        throw new CheckpointException(file + ": its pre-tokenizer is neither Llama 3's nor Llama 4's"
                + (patterns.isEmpty() ? "" : " (" + patterns.getFirst() + ")") + "; panllama cannot convert it yet");
    }

    private static void collectSplitPatterns(Object node, List<String> patterns) {
        if (node instanceof Map<?, ?> map) {
            if ("Split".equals(map.get("type")) && map.get("pattern") instanceof Map<?, ?> pattern && pattern.get("Regex") instanceof String regex) {
                patterns.add(regex);
            }
            if (map.get("pretokenizers") instanceof List<?> list) {
                list.forEach(child -> collectSplitPatterns(child, patterns));
            }
        }
    }

    /** tokenizer_config.json's template, else chat_template.jinja, else chat_template.json's. */
    private static Optional<String> chatTemplate(Path directory, Map<String, Object> tokenizerConfig) throws IOException {
        if (tokenizerConfig.get("chat_template") instanceof String template) {
            return Optional.of(template);
        }
        Path jinja = directory.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            return Optional.of(Files.readString(jinja));
        }
        Path json = directory.resolve("chat_template.json");
        if (Files.isRegularFile(json) && JsonFiles.readObject(json).get("chat_template") instanceof String template) {
            return Optional.of(template);
        }
        return Optional.empty();
    }

    private static boolean looksSpecial(String token) {
        return token.startsWith("<|") && token.endsWith("|>");
    }

    void writeTo(GgufWriter writer) {
        writer.put("tokenizer.ggml.model", "gpt2")
                .put("tokenizer.ggml.pre", preTokenizer)
                .put("tokenizer.ggml.tokens", GgufValue.of(GgufArray.ofStrings(tokens.toArray(String[]::new))))
                .put("tokenizer.ggml.token_type", GgufValue.of(GgufArray.ofInts(GgufValueType.INT32,
                        java.util.Arrays.stream(types).asLongStream().toArray())))
                .put("tokenizer.ggml.merges", GgufValue.of(GgufArray.ofStrings(merges.toArray(String[]::new))));
        specialIds.forEach((type, id) -> writer.put("tokenizer.ggml." + ID_KEYS.get(type), GgufValue.ofUint32(id)));
        addSpecial.forEach((type, add) -> writer.put("tokenizer.ggml.add_" + type + "_token", GgufValue.ofBool(add)));
        if (chatTemplate != null) {
            writer.put("tokenizer.chat_template", chatTemplate);
        }
    }

    int size() {
        return tokens.size();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Path file, Object value) {
        if (value instanceof Map<?, ?> map) {
            return (Map<String, Object>) map;
        }
        throw new CheckpointException(file + " is not laid out as a Hugging Face tokenizer file");
    }

    private static int id(Path file, Object value) {
        if (value instanceof Double d && d == Math.rint(d) && d >= 0 && d < Integer.MAX_VALUE) {
            return d.intValue();
        }
        throw new CheckpointException(file + ": token id " + value + " is not a non-negative integer");
    }
}
