package dev.panllama.api;

import dev.panllama.sampling.Dry;
import dev.panllama.sampling.DryBreakers;
import dev.panllama.sampling.ReasoningBudget;
import dev.panllama.sampling.ReasoningBudgetEnforcer;
import dev.panllama.sampling.Sampler;
import dev.panllama.structured.OutputConstraint;
import dev.panllama.tokenizer.StreamingDecoder;
import dev.panllama.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import java.util.function.Consumer;

/**
 * What one sequence's generation holds between tokens, whoever evaluates it: its sampler (seed and
 * penalty history), the text decoded so far and how much of it the sink has, the tokens generated, and
 * why it stopped. Given the logits after each evaluated token, {@link #next} picks the token to
 * evaluate next or stops; text reaches the sink as soon as it can no longer turn out to be the start of
 * a stop string. With a JSON schema, only tokens that keep the text a prefix of a document the schema
 * accepts are sampled, and it stops once the document is whole. The single-sequence loop
 * ({@link Generator}) and a server's batched loop step it alike, so both stop, decode and stream the
 * same way. Made by {@link LlamaModel#newGeneration}. One thread at a time.
 */
public final class SequenceGeneration {

    /** What {@link #next} returns once the generation has stopped. */
    public static final int STOPPED = -1;

    private final Tokenizer tokenizer;
    private final int[] prompt;
    private final GenerationOptions options;
    private final Consumer<String> sink;
    private final Sampler sampler;
    private final OutputConstraint structure;   // null for free text
    private final ReasoningBudgetEnforcer reasoningBudget;   // null for reasoning unbounded
    private final StreamingDecoder decoder;
    private final StringBuilder text = new StringBuilder();
    private final List<Integer> generated = new ArrayList<>();
    private int emitted;
    private Generation.StopReason reason;
    /** The stop string that ended it, once one has; else "". */
    private String stoppedBy = "";

    /** A generation after {@code prompt}, whose tokens the repetition penalties see first, under {@code structure} if not null. */
    SequenceGeneration(Tokenizer tokenizer, int[] prompt, GenerationOptions options, Consumer<String> sink, OutputConstraint structure) {
        this.tokenizer = tokenizer;
        this.structure = structure;
        this.prompt = prompt;
        this.options = options;
        this.sink = sink;
        int vocabularySize = tokenizer.vocabulary().size();
        for (int token : options.sampling().logitBias().keySet()) {
            if (token >= vocabularySize) {
                throw new IllegalArgumentException("a logit bias names token " + token + ", but the vocabulary has " + vocabularySize + " tokens");
            }
        }
        Dry dry = options.sampling().dry();
        this.sampler = new Sampler(options.sampling(), dry.on() ? DryBreakers.of(dry.sequenceBreakers(), tokenizer) : DryBreakers.NONE);
        for (int token : prompt) {
            sampler.accept(token);
        }
        this.decoder = tokenizer.streamingDecoder();
        this.reasoningBudget = options.reasoningBudget() == null ? null : enforcer(tokenizer, options.reasoningBudget());
    }

    /**
     * {@code budget} kept over this vocabulary's tokens (tags and message tokenized as llama.cpp tokenizes them,
     * special tokens read), having read the template's opening of the reply as llama.cpp reads it: tokenized
     * alone, a first token that is only the space a tokenizer puts before text left out.
     */
    private static ReasoningBudgetEnforcer enforcer(Tokenizer tokenizer, ReasoningBudget budget) {
        int[] end = tokenizer.encode(budget.end(), false, true);
        int[] forced = IntStream.concat(IntStream.of(tokenizer.encode(budget.message(), false, true)), IntStream.of(end)).toArray();
        ReasoningBudgetEnforcer enforcer = new ReasoningBudgetEnforcer(tokenizer.encode(budget.start(), false, true), end, forced,
                budget.tokens(), token -> ReasoningBudgetEnforcer.endsWithWholeCharacter(tokenizer.pieceBytes(token, false)));
        String opening = budget.generationPrompt();
        int[] tokens = tokenizer.encode(opening, false, true);
        for (int i = 0; i < tokens.length; i++) {
            byte[] piece = tokenizer.pieceBytes(tokens[i], true);
            boolean addedSpace = i == 0 && piece.length > 0 && isSpace(piece[0]) && !isSpace(opening.charAt(0));
            if (!addedSpace) {
                enforcer.accept(tokens[i]);
            }
        }
        return enforcer;
    }

    /** C's isspace. */
    private static boolean isSpace(int c) {
        return " \t\n\u000B\f\r".indexOf(c) >= 0;
    }

    /**
     * Takes the logits after the last evaluated token (which the sampler may change) and returns the
     * token to evaluate next, its safe text already given to the sink; or {@link #STOPPED} when the
     * model ends its turn, a stop string appears, the JSON document is whole or the token limit is
     * reached (the text of the token that made it so given), or no token can continue it. The token that
     * reaches the limit is not evaluated, as llama.cpp does not: nothing would read its logits.
     */
    public int next(float[] logits) {
        if (reason != null) {
            return STOPPED;
        }
        if (reachedLimit()) {
            // A limit of 0: nothing is sampled. Any other limit stops below, at the token that reaches it.
            reason = Generation.StopReason.MAX_TOKENS;
            return STOPPED;
        }
        if (reasoningBudget != null) {
            reasoningBudget.mask(logits);
        }
        int token = structure == null ? sampler.sample(logits) : sampler.sample(logits, structure);
        if (token == Sampler.NO_TOKEN) {
            reason = Generation.StopReason.NO_VALID_TOKEN;
            return STOPPED;
        }
        if (tokenizer.vocabulary().isEndOfGeneration(token)) {
            reason = Generation.StopReason.END_OF_TURN;
            return STOPPED;
        }
        generated.add(token);
        sampler.accept(token);
        if (reasoningBudget != null) {
            reasoningBudget.accept(token);
        }
        if (structure != null) {
            structure.accept(token);
        }
        int before = text.length();
        text.append(decoder.next(token, false));
        int stopAt = firstStop(text, before, options.stopStrings());
        if (stopAt >= 0) {
            for (String stop : options.stopStrings()) {
                if (text.indexOf(stop, stopAt) == stopAt) {
                    stoppedBy = stop;
                    break;
                }
            }
            text.setLength(stopAt);
            reason = Generation.StopReason.STOP_STRING;
            return STOPPED;
        }
        int safe = text.length() - heldBack(text, options.stopStrings());
        if (safe > emitted) {
            sink.accept(text.substring(emitted, safe));
            emitted = safe;
        }
        if (structure != null && structure.isFinished()) {
            reason = Generation.StopReason.END_OF_TURN;
            return STOPPED;
        }
        if (reachedLimit()) {
            reason = Generation.StopReason.MAX_TOKENS;
            return STOPPED;
        }
        return token;
    }

    /** Whether the tokens generated have reached the limit; never without one. */
    private boolean reachedLimit() {
        return options.maxTokens() >= 0 && generated.size() >= options.maxTokens();
    }

    /** Stops for a reason the caller sees (a cancellation, a full context); a stop already reached stays. */
    public void stop(Generation.StopReason why) {
        if (reason == null) {
            reason = why;
        }
    }

    public boolean isStopped() {
        return reason != null;
    }

    /** Tokens generated so far. */
    public int generatedCount() {
        return generated.size();
    }

    /** The token generated last, or -1 before the first. */
    public int lastGenerated() {
        return generated.isEmpty() ? -1 : generated.getLast();
    }

    /**
     * Ends the generation: hands the sink the text held back (the decoder's pending bytes too, unless a
     * stop string ended it) and returns what was generated, with the prompt figures given.
     *
     * @param promptTokens the prompt tokens evaluated for it (after any reused prefix)
     */
    public Generation finish(int promptTokens, double promptMillis, double generatedMillis) {
        if (reason == null) {
            throw new IllegalStateException("the generation has not stopped");
        }
        if (reason != Generation.StopReason.STOP_STRING) {
            text.append(decoder.flush());
        }
        if (text.length() > emitted) {
            sink.accept(text.substring(emitted));
            emitted = text.length();
        }
        return new Generation(text.toString(), prompt, generated.stream().mapToInt(Integer::intValue).toArray(), reason,
                promptTokens, promptMillis, generatedMillis, stoppedBy);
    }

    /**
     * Where the first stop string in {@code text} begins, or -1. The text before {@code newFrom} held
     * none, so only occurrences that end in the new characters are looked for.
     */
    private static int firstStop(StringBuilder text, int newFrom, List<String> stops) {
        int first = -1;
        for (String stop : stops) {
            int at = text.indexOf(stop, Math.max(0, newFrom - stop.length() + 1));
            if (at >= 0 && (first < 0 || at < first)) {
                first = at;
            }
        }
        return first;
    }

    /** How many trailing characters could still be the start of a stop string. */
    private static int heldBack(CharSequence text, List<String> stops) {
        int held = 0;
        for (String stop : stops) {
            for (int length = Math.min(stop.length() - 1, text.length()); length > held; length--) {
                if (text.subSequence(text.length() - length, text.length()).toString().equals(stop.substring(0, length))) {
                    held = length;
                    break;
                }
            }
        }
        return held;
    }
}
