package dev.panllama.api;

/**
 * What one generation produced: the text, the token ids, why it stopped and how long it took.
 *
 * @param promptTokens    tokens of the prompt evaluated for this generation (after any reused prefix)
 * @param promptMillis    time spent evaluating them
 * @param generatedMillis time spent generating
 * @param stopString      the stop string that ended it ({@link StopReason#STOP_STRING}; the text leaves it out), else ""
 */
public record Generation(String text, int[] promptIds, int[] generatedIds, StopReason stopReason,
                         int promptTokens, double promptMillis, double generatedMillis, String stopString) {

    public enum StopReason {
        /** The model ended its turn (end-of-sequence or end-of-turn token), or structured output is a whole document. */
        END_OF_TURN,
        /** A stop string appeared. */
        STOP_STRING,
        /** The token limit was reached. */
        MAX_TOKENS,
        /** The context is full. */
        CONTEXT_FULL,
        /** The caller cancelled. */
        CANCELLED,
        /** Structured output: no token of the vocabulary can continue the document (the text is incomplete). */
        NO_VALID_TOKEN
    }

    /** Prompt processing speed in tokens per second. */
    public double promptTokensPerSecond() {
        return promptMillis == 0 ? 0 : promptTokens * 1000.0 / promptMillis;
    }

    /** Generation speed in tokens per second. */
    public double generatedTokensPerSecond() {
        return generatedMillis == 0 ? 0 : generatedIds.length * 1000.0 / generatedMillis;
    }
}
