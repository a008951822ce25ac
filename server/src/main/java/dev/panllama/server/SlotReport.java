package dev.panllama.server;

import dev.panllama.api.GenerationOptions;

/**
 * What {@code GET /slots} tells of one {@link SequenceSlot}: whether it is generating, and of the
 * request it serves or served last, the prompt's token counts, the sampling settings and how far the
 * generation is. Counts and settings only, as llama-server reports by default: no prompt or reply text,
 * which are other clients' own. Made on the decode thread, read on any.
 *
 * @param slot             the slot's number, from 0
 * @param processing       whether a request is being generated in it
 * @param request          the request's number, in the order requests were admitted; -1 when the slot has served none
 * @param promptTokens     the prompt's length
 * @param promptEvaluated  the prompt's tokens evaluated so far (those the cache lacked)
 * @param promptCached     the prompt's tokens the cache held when it was admitted
 * @param options          the request's token limit and sampling settings; null when the slot has served none
 * @param probabilities    the alternatives reported with each token's log probability (llama-server's {@code n_probs}); 0 for none
 * @param decoded          the tokens generated so far
 * @param generating       whether it will generate another token
 * @param newLine          whether its text has had a line break yet
 */
record SlotReport(int slot, boolean processing, long request, int promptTokens, int promptEvaluated, int promptCached,
                  GenerationOptions options, int probabilities, int decoded, boolean generating, boolean newLine) {

    /** A slot that has served no request yet. */
    static SlotReport unused(int slot) {
        return new SlotReport(slot, false, -1, 0, 0, 0, null, 0, 0, false, false);
    }

    /** The tokens it may still generate (llama-server's {@code n_remain}); -1 without a limit. */
    int remaining() {
        return options.maxTokens() < 0 ? -1 : options.maxTokens() - decoded;
    }
}
