package dev.panllama.cli;

import dev.panllama.api.GenerationOptions;
import dev.panllama.sampling.AdaptiveP;
import dev.panllama.sampling.Dry;
import dev.panllama.sampling.DynamicTemperature;
import dev.panllama.sampling.Mirostat;
import dev.panllama.sampling.SamplerOrder;
import dev.panllama.sampling.SamplingOptions;
import dev.panllama.sampling.TokenFilters;
import dev.panllama.tokenizer.Vocabulary;
import picocli.CommandLine.Option;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Sampling options, named as llama.cpp names them. */
final class SamplingArgs {

    /** A --logit-bias value: a token id, a sign and a size, as llama.cpp writes them. */
    private static final Pattern BIAS = Pattern.compile("(\\d{1,9})([+-])(.+)");

    @Option(names = {"-s", "--seed"}, paramLabel = "N", description = "Random seed (default: a new one each run).")
    Long seed;

    @Option(names = "--temp", paramLabel = "T", description = "Temperature; 0 is greedy (default: 0.8).")
    float temperature = 0.8f;

    @Option(names = "--top-k", paramLabel = "N", description = "Keep the N most likely tokens; 0 keeps all (default: 40).")
    int topK = 40;

    @Option(names = "--top-p", paramLabel = "P", description = "Keep the most likely tokens up to probability P (default: 0.95).")
    float topP = 0.95f;

    @Option(names = "--min-p", paramLabel = "P", description = "Drop tokens below P times the top probability (default: 0.05).")
    float minP = 0.05f;

    @Option(names = "--typical", paramLabel = "P", description = "Locally typical sampling up to probability P; 1 is off (default: 1).")
    float typicalP = 1f;

    @Option(names = "--top-nsigma", paramLabel = "N",
            description = "Keep tokens within N standard deviations of the top logit; 0 or less is off (default: -1).")
    float topNSigma = -1f;

    @Option(names = "--xtc-probability", paramLabel = "P",
            description = "Chance that XTC removes the likeliest tokens but one at a step; 0 is off (default: 0).")
    float xtcProbability;

    @Option(names = "--xtc-threshold", paramLabel = "P",
            description = "The probability at or above which XTC removes a token; above 0.5 is off (default: 0.1).")
    float xtcThreshold = 0.1f;

    @Option(names = "--dynatemp-range", paramLabel = "N",
            description = "Dynamic temperature: within --temp ± N by the candidates' entropy; 0 is off (default: 0).")
    float dynatempRange;

    @Option(names = "--dynatemp-exp", paramLabel = "N", description = "Dynamic temperature's exponent (default: 1).")
    float dynatempExponent = DynamicTemperature.OFF.exponent();

    @Option(names = "--dry-multiplier", paramLabel = "N", description = "DRY repetition penalty strength; 0 is off (default: 0).")
    float dryMultiplier;

    @Option(names = "--dry-base", paramLabel = "N", description = "DRY's growth with a repetition's length (default: 1.75).")
    float dryBase = Dry.OFF.base();

    @Option(names = "--dry-allowed-length", paramLabel = "N", description = "The longest repetition DRY leaves alone (default: 2).")
    int dryAllowedLength = Dry.OFF.allowedLength();

    @Option(names = "--dry-penalty-last-n", paramLabel = "N",
            description = "Tokens DRY looks back at; 0 off, -1 the whole context (default: 64).")
    int dryPenaltyLastN = Dry.OFF.penaltyLastN();

    @Option(names = "--dry-sequence-breaker", paramLabel = "TEXT",
            description = "A text that ends a repetition for DRY, in place of the defaults (newline, colon, quote, asterisk); 'none' for none (repeatable).")
    List<String> drySequenceBreakers = List.of();

    @Option(names = "--mirostat", paramLabel = "N",
            description = "Mirostat sampling in place of top-k, top-p, min-p, the other filters and the penalties: 1 or 2; 0 is off (default: 0).")
    int mirostat;

    @Option(names = "--mirostat-lr", paramLabel = "N", description = "Mirostat's learning rate, eta (default: 0.1).")
    float mirostatEta = Mirostat.OFF.eta();

    @Option(names = "--mirostat-ent", paramLabel = "N", description = "Mirostat's target surprise in bits, tau (default: 5).")
    float mirostatTau = Mirostat.OFF.tau();

    @Option(names = "--repeat-penalty", paramLabel = "X", description = "Penalize repeated tokens; 1 is off (default: 1).")
    float repeatPenalty = 1f;

    @Option(names = "--repeat-last-n", paramLabel = "N", description = "Tokens the penalties look back at; -1 all (default: 64).")
    int repeatLastN = 64;

    @Option(names = "--frequency-penalty", paramLabel = "X", description = "Subtract X per earlier occurrence (default: 0).")
    float frequencyPenalty;

    @Option(names = "--presence-penalty", paramLabel = "X", description = "Subtract X once if the token occurred (default: 0).")
    float presencePenalty;

    @Option(names = {"-l", "--logit-bias"}, paramLabel = "TOKEN_ID(+/-)BIAS",
            description = "Add BIAS to a token's logit, e.g. 15043+1 or 15043-1; 15043-inf bans it (repeatable).")
    List<String> logitBias = List.of();

    @Option(names = "--samplers", paramLabel = "NAMES",
            description = "The samplers that run, in this order, by llama.cpp's names separated by ';' (default: "
                    + "penalties;dry;top_n_sigma;top_k;typ_p;top_p;min_p;xtc;temperature); one left out does not run.")
    String samplers;

    @Option(names = {"--sampler-seq", "--sampling-seq"}, paramLabel = "LETTERS",
            description = "As --samplers, by llama.cpp's letters (default: edskypmxt).")
    String samplerLetters;

    @Option(names = "--adaptive-target", paramLabel = "P",
            description = "Adaptive-p (when --samplers names adaptive_p): select tokens near probability P; negative is off (default: -1).")
    float adaptiveTarget = AdaptiveP.OFF.target();

    @Option(names = "--adaptive-decay", paramLabel = "N",
            description = "Adaptive-p's decay: about 1/(1-N) recent tokens count, within [0, 0.99] (default: 0.9).")
    float adaptiveDecay = AdaptiveP.OFF.decay();

    @Option(names = "--greedy", description = "Always take the most likely token (same as --temp 0, in the default order).")
    boolean greedy;

    @Option(names = "--ignore-eos", description = "Ban the tokens that end a reply, so that it runs to its token limit (-n).")
    boolean ignoreEos;

    SamplingOptions options() {
        long resolvedSeed = seed != null ? seed : System.nanoTime();
        return new SamplingOptions(greedy ? 0f : temperature, topK, topP, minP, repeatPenalty, repeatLastN,
                frequencyPenalty, presencePenalty, resolvedSeed, biases(),
                new TokenFilters(typicalP, topNSigma, xtcProbability, xtcThreshold), new Mirostat(mirostat, mirostatTau, mirostatEta),
                new DynamicTemperature(dynatempRange, dynatempExponent),
                new Dry(dryMultiplier, dryBase, dryAllowedLength, dryPenaltyLastN, dryBreakers()), greedy ? SamplerOrder.DEFAULT : order(),
                new AdaptiveP(adaptiveTarget, adaptiveDecay));
    }

    private SamplerOrder order() {
        if (samplers != null && samplerLetters != null) {
            throw new IllegalArgumentException("give --samplers or --sampler-seq, not both");
        }
        if (samplers != null) {
            return SamplerOrder.ofNames(samplers.isEmpty() ? List.of() : List.of(samplers.split(";", -1)));
        }
        return samplerLetters != null ? SamplerOrder.ofLetters(samplerLetters) : SamplerOrder.DEFAULT;
    }

    /** {@code options} for {@code vocabulary}'s model: its end-of-generation tokens banned when --ignore-eos asks. */
    GenerationOptions forVocabulary(GenerationOptions options, Vocabulary vocabulary) {
        return ignoreEos ? options.withSampling(options.sampling().banning(vocabulary.endOfGenerationIds())) : options;
    }

    /**
     * The --dry-sequence-breaker texts with their escapes read as llama.cpp reads them ({@code \\n} a newline,
     * {@code \\t}, {@code \\"}, {@code \\\\}); llama.cpp's defaults without any, none for 'none'.
     */
    private List<String> dryBreakers() {
        if (drySequenceBreakers.isEmpty()) {
            return Dry.DEFAULT_BREAKERS;
        }
        if (drySequenceBreakers.contains("none")) {
            return List.of();
        }
        return drySequenceBreakers.stream().map(SamplingArgs::unescaped).toList();
    }

    private static String unescaped(String text) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\\' && i + 1 < text.length()) {
                char next = text.charAt(++i);
                out.append(switch (next) {
                    case 'n' -> '\n';
                    case 't' -> '\t';
                    case 'r' -> '\r';
                    default -> next;
                });
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    /** The --logit-bias values by token; two for one token add up, as llama.cpp's do. */
    private Map<Integer, Float> biases() {
        Map<Integer, Float> biases = new HashMap<>();
        for (String value : logitBias) {
            Matcher bias = BIAS.matcher(value);
            if (!bias.matches()) {
                throw new IllegalArgumentException("--logit-bias takes TOKEN_ID(+/-)BIAS, such as 15043+1 or 15043-inf, not '" + value + "'");
            }
            float size = magnitude(bias.group(3), value);
            biases.merge(Integer.parseInt(bias.group(1)), bias.group(2).equals("-") ? -size : size, Float::sum);
        }
        return biases;
    }

    private static float magnitude(String text, String value) {
        if (text.equalsIgnoreCase("inf")) {
            return Float.POSITIVE_INFINITY;
        }
        try {
            float size = Float.parseFloat(text);
            if (Float.isFinite(size) && size >= 0) {
                return size;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw new IllegalArgumentException("--logit-bias '" + value + "': the bias must be a number or inf after the sign");
    }
}
