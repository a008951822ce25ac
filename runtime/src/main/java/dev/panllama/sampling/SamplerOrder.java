package dev.panllama.sampling;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Which of llama.cpp's samplers run before the draw, in which order: llama.cpp's {@code --samplers} and
 * {@code --sampler-seq}, llama-server's {@code samplers}. A sampler left out does not run at all (leaving
 * out the temperature draws at temperature 1; leaving out the penalties applies none). Logit biases
 * always come first, and Mirostat, when on, ignores the order, as in llama.cpp.
 *
 * @param stages the samplers in the order they run; a sampler may come more than once
 */
public record SamplerOrder(List<Stage> stages) {

    /** One of llama.cpp's samplers, with its name and its letter in a {@code --sampler-seq}. */
    public enum Stage {
        PENALTIES("penalties", 'e'),
        DRY("dry", 'd'),
        TOP_N_SIGMA("top_n_sigma", 's'),
        TOP_K("top_k", 'k'),
        TYPICAL_P("typ_p", 'y'),
        TOP_P("top_p", 'p'),
        MIN_P("min_p", 'm'),
        XTC("xtc", 'x'),
        TEMPERATURE("temperature", 't'),
        /** Draws in place of the plain draw, wherever it stands ({@link AdaptiveP}). */
        ADAPTIVE_P("adaptive_p", 'a');

        final String llamaName;
        final char letter;

        Stage(String llamaName, char letter) {
            this.llamaName = llamaName;
            this.letter = letter;
        }

        /** The name llama.cpp gives it. */
        public String llamaName() {
            return llamaName;
        }
    }

    /** llama.cpp's default order. */
    public static final SamplerOrder DEFAULT = new SamplerOrder(List.of(Stage.PENALTIES, Stage.DRY, Stage.TOP_N_SIGMA, Stage.TOP_K,
            Stage.TYPICAL_P, Stage.TOP_P, Stage.MIN_P, Stage.XTC, Stage.TEMPERATURE));

    /** Every name llama.cpp takes for a sampler (lower case): its own, with '-' for '_', without '_', and a few more. */
    private static final Map<String, Stage> NAMES = names();
    /** llama.cpp's samplers that panllama has not: their names and letters, to say so rather than only that the name is unknown. */
    private static final Set<String> UNSUPPORTED_NAMES = Set.of("infill");
    private static final Map<Character, String> UNSUPPORTED_LETTERS = Map.of('i', "infill");

    public SamplerOrder {
        stages = List.copyOf(stages);
    }

    /**
     * The order of samplers named as llama.cpp names them ({@code top_k}, {@code top-k}, {@code topk},
     * {@code temp}, {@code nucleus}, ...; in any case).
     *
     * @throws IllegalArgumentException for a name that is no sampler panllama has (the message lists them)
     */
    public static SamplerOrder ofNames(List<String> names) {
        List<Stage> stages = new ArrayList<>();
        for (String name : names) {
            Stage stage = NAMES.get(name.toLowerCase(Locale.ROOT));
            if (stage == null) {
                throw new IllegalArgumentException(refusal("'" + name + "'", name.toLowerCase(Locale.ROOT)));
            }
            stages.add(stage);
        }
        return new SamplerOrder(stages);
    }

    /**
     * The order of samplers given by their letters, as llama.cpp's {@code --sampler-seq} ({@code edskypmxt} is the default).
     *
     * @throws IllegalArgumentException for a letter that is no sampler panllama has
     */
    public static SamplerOrder ofLetters(String letters) {
        List<Stage> stages = new ArrayList<>();
        for (char letter : letters.toCharArray()) {
            Stage found = null;
            for (Stage stage : Stage.values()) {
                if (stage.letter == letter) {
                    found = stage;
                }
            }
            if (found == null) {
                throw new IllegalArgumentException(refusal("letter '" + letter + "'", UNSUPPORTED_LETTERS.getOrDefault(letter, "")));
            }
            stages.add(found);
        }
        return new SamplerOrder(stages);
    }

    private static String refusal(String what, String llamaName) {
        List<String> known = new ArrayList<>();
        for (Stage stage : Stage.values()) {
            known.add(stage.llamaName + " (" + stage.letter + ")");
        }
        String unsupported = UNSUPPORTED_NAMES.contains(llamaName) ? " (llama.cpp's " + llamaName + " sampler is not supported)" : "";
        return "no sampler " + what + unsupported + "; the samplers are " + String.join(", ", known);
    }

    /** Whether this is llama.cpp's default order. */
    public boolean isDefault() {
        return equals(DEFAULT);
    }

    /** Whether {@code stage} runs. */
    public boolean has(Stage stage) {
        return stages.contains(stage);
    }

    /** The order as llama.cpp's {@code --samplers} writes it: names separated by ';'. */
    @Override
    public String toString() {
        List<String> names = new ArrayList<>();
        stages.forEach(stage -> names.add(stage.llamaName));
        return String.join(";", names);
    }

    private static Map<String, Stage> names() {
        Map<String, Stage> names = new LinkedHashMap<>();
        for (Stage stage : Stage.values()) {
            names.put(stage.llamaName, stage);
            names.put(stage.llamaName.replace('_', '-'), stage);
            names.put(stage.llamaName.replace("_", ""), stage);
        }
        names.put("nucleus", Stage.TOP_P);
        names.put("temp", Stage.TEMPERATURE);
        names.put("typ", Stage.TYPICAL_P);
        return Map.copyOf(names);
    }
}
