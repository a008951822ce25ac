package dev.panllama.tokenizer;

import dev.panllama.gguf.GgufException;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How byte-level BPE splits text into words before merging, by {@code tokenizer.ggml.pre}. The
 * patterns are the ones llama.cpp runs (adapted from each model's tokenizer.json), with Unicode
 * classes so that {@code \s}, {@code \p{L}} and {@code \p{N}} mean what they mean there.
 */
enum PreTokenizer {
    /** Llama 3 ({@code llama-bpe}). */
    LLAMA3("(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", true,
            "llama3", "llama-v3", "llama-bpe"),
    /** Llama 4 and GPT-4o ({@code llama4}): case-aware words, contractions attached. */
    GPT4O("[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
            + "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
            + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", false,
            "llama4", "gpt-4o");

    private final Pattern pattern;
    private final boolean ignoreMerges;
    private final List<String> names;

    PreTokenizer(String regex, boolean ignoreMerges, String... names) {
        this.pattern = Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
        this.ignoreMerges = ignoreMerges;
        this.names = List.of(names);
    }

    static PreTokenizer of(String name) {
        for (PreTokenizer pre : values()) {
            if (pre.names.contains(name)) {
                return pre;
            }
        }
        List<String> known = new ArrayList<>();
        for (PreTokenizer pre : values()) {
            known.addAll(pre.names);
        }
        throw new GgufException("unsupported pre-tokenizer '" + name + "'; panllama supports: " + String.join(", ", known));
    }

    /** Whether a word that is itself a token is taken whole, without merging. */
    boolean ignoresMerges() {
        return ignoreMerges;
    }

    List<String> split(String text) {
        List<String> words = new ArrayList<>();
        Matcher matcher = pattern.matcher(text);
        int end = 0;
        while (matcher.find()) {
            if (matcher.start() > end) {
                words.add(text.substring(end, matcher.start()));
            }
            if (matcher.end() > matcher.start()) {
                words.add(matcher.group());
            }
            end = matcher.end();
        }
        if (end < text.length()) {
            words.add(text.substring(end));
        }
        return words;
    }
}
