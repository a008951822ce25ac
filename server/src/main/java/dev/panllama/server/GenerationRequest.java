package dev.panllama.server;

import dev.panllama.api.GenerationOptions;
import dev.panllama.chat.ReasoningSplit;
import dev.panllama.chat.ToolUse;

import java.util.ArrayList;
import java.util.List;

/**
 * One request to generate, read and checked: the prompt as token ids, how to generate, and how the
 * reply goes back (streamed as server-sent events or whole; with the token counts in the stream's
 * last event when {@code stream_options.include_usage} asks for them; with each token's log
 * probability and its {@code logprobs} most likely alternatives, unless that is
 * {@link GenerationJob#NO_LOGPROBS}). {@code promptCharacters} is where a text completion's token offsets
 * start (the prompt's length in characters; 0 where none are reported). {@code tools} are those a chat's
 * reply may call ({@link ToolUse#NONE} for a text completion). {@code reusePrompt} is llama-server's
 * {@code cache_prompt}: whether the start of the prompt an earlier request left in the cache is used
 * rather than evaluated again (the default; false evaluates the whole prompt, so that the reply does not
 * depend on which requests came before). {@code reasoning} says where the reply starts with respect to a
 * reasoning block, and whether its reasoning goes apart ({@link ReasoningSplit.Start#NONE}: all one text).
 * {@code choices} is OpenAI's {@code n}: how many replies to generate from the prompt, each in a slot of
 * its own ({@link #choiceOptions()}). {@code slot} is llama-server's {@code id_slot}: the slot the (first)
 * choice runs in, -1 for any.
 */
record GenerationRequest(int[] prompt, int promptCharacters, GenerationOptions options, boolean stream, boolean includeUsage,
                         int logprobs, ToolUse tools, boolean reusePrompt, ReasoningSplit.Start reasoning, int choices,
                         int slot) {

    boolean wantsLogprobs() {
        return logprobs != GenerationJob.NO_LOGPROBS;
    }

    /** This request with each token's log probability and its {@code top} most likely alternatives. */
    GenerationRequest withLogprobs(int top) {
        return new GenerationRequest(prompt, promptCharacters, options, stream, includeUsage, top, tools, reusePrompt, reasoning, choices, slot);
    }

    /**
     * Each choice's options: the request's, with the seed one more for each choice after the first (as
     * llama-server seeds them), so that choices sampled at a temperature differ and the same request
     * gives the same choices again.
     */
    List<GenerationOptions> choiceOptions() {
        List<GenerationOptions> each = new ArrayList<>();
        for (int i = 0; i < choices; i++) {
            each.add(i == 0 ? options : options.withSampling(options.sampling().withSeed(options.sampling().seed() + i)));
        }
        return each;
    }
}
