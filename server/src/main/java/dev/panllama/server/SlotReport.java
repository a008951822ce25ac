package dev.panllama.server;

import dev.panllama.api.GenerationOptions;

/**
 * What {@code GET /slots} tells of one {@link SequenceSlot}: whether it is generating, the tokens its
 * cache holds, the request it serves or served last and its sampling settings, and while it generates, the
 * prompt's token counts and how far the generation is (an idle slot reports those as zero, as
 * llama-server's does). Counts and settings only, as llama-server reports by default: no prompt or reply text,
 * which are other clients' own. Made on the decode thread, read on any.
 *
 * @param slot             the slot's number, from 0
 * @param processing       whether a request is being generated in it
 * @param request          the request's number, in the order requests were admitted; -1 when the slot has served none
 * @param cachedTokens     the tokens its cache holds: the prompt and the reply so far, or what a finished request left
 *                         (llama-server's {@code n_prompt_tokens}, its slot's prompt cache)
 * @param promptEvaluated  the prompt's tokens evaluated so far (those the cache lacked)
 * @param promptCached     the prompt's tokens the cache held when it was admitted
 * @param options          the request's token limit and sampling settings; null when the slot has served none
 * @param probabilities    the alternatives reported with each token's log probability (llama-server's {@code n_probs}); 0 for none
 * @param decoded          the tokens generated so far
 * @param generating       whether it will generate another token
 * @param newLine          whether its text has had a line break yet
 */
record SlotReport(int slot, boolean processing, long request, long cachedTokens, int promptEvaluated, int promptCached,
                  GenerationOptions options, int probabilities, int decoded, boolean generating, boolean newLine) {

    /** A slot that has served no request yet. */
    static SlotReport unused(int slot) {
        return new SlotReport(slot, false, -1, 0, 0, 0, null, 0, 0, false, false);
    }

    /** The same report with the tokens its cache holds now. */
    SlotReport withCachedTokens(long value) {
        return new SlotReport(slot, processing, request, value, promptEvaluated, promptCached, options, probabilities, decoded, generating,
                newLine);
    }

    /** The tokens it may still generate (llama-server's {@code n_remain}); -1 without a limit, or while idle. */
    int remaining() {
        return !processing || options.maxTokens() < 0 ? -1 : options.maxTokens() - decoded;
    }
}
