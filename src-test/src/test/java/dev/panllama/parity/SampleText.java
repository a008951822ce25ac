package dev.panllama.parity;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Seeded text that exercises tokenizers: words in many scripts, case changes, contractions, numbers of
 * every length, punctuation runs, code, emoji, unusual whitespace and the special-token spellings.
 */
public final class SampleText {

    private static final String[] WORDS = {
        "Hello", "world", "THE", "quick", "brOwn", "fox", "Äpfel", "naïve", "façade", "Straße", "ÉCOLE", "über",
        "привет", "Москва", "ΕΛΛΗΝΙΚΆ", "λέξη", "日本語", "中文字符", "한국어", "مرحبا", "שלום", "हिन्दी", "ภาษาไทย",
        "Tiếng", "Việt", "İstanbul", "ǅungla", "x²", "½", "Ⅻ", "٣٤٥", "१२३", "🦙", "👩‍💻", "🇫🇷", "©®™", "∑∫√",
        "it's", "WE'LL", "they're", "I'M", "you've", "She'D", "don't", "O'Neil",
        "llama.cpp", "foo_bar", "camelCaseWord", "snake_case", "HTTPServer", "v1.2.3", "user@example.com",
        "https://example.org/a/b?c=d", "C:\\\\path\\\\to", "$100", "3.14159", "1234567890", "007", "42",
        "<|begin_of_text|>", "<|eot_id|>", "<|header_start|>", "<|eot|>", "<s>", "</s>",
    };
    private static final String[] SEPARATORS = {
        " ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", ", ", ". ", "! ", "?", "...",
        " - ", "—", ":", ";", "(", ")", "[]", "{}", "\"", "'", "`", " /", "/", " // ", "==", "->", " \t\n",
    };

    private SampleText() {
    }

    /** {@code count} texts of up to {@code maxWords} words each. */
    static List<String> generate(long seed, int count, int maxWords) {
        Random random = new Random(seed);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            StringBuilder text = new StringBuilder();
            int words = 1 + random.nextInt(maxWords);
            if (random.nextInt(5) == 0) {
                text.append(SEPARATORS[random.nextInt(SEPARATORS.length)]);
            }
            for (int w = 0; w < words; w++) {
                text.append(WORDS[random.nextInt(WORDS.length)]);
                if (w + 1 < words || random.nextInt(4) == 0) {
                    text.append(SEPARATORS[random.nextInt(SEPARATORS.length)]);
                }
            }
            texts.add(text.toString());
        }
        return texts;
    }

    /** A long prose-like text of about {@code tokens} tokens, for prompts. */
    public static String prose(long seed, int words) {
        Random random = new Random(seed);
        StringBuilder text = new StringBuilder();
        for (int w = 0; w < words; w++) {
            text.append(WORDS[random.nextInt(WORDS.length - 6)]);
            text.append(w % 13 == 12 ? ".\n" : " ");
        }
        return text.toString();
    }
}
