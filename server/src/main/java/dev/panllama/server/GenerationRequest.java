package dev.panllama.server;

import dev.panllama.api.GenerationOptions;
import dev.panllama.chat.ReasoningSplit;
import dev.panllama.chat.ToolUse;

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
 */
record GenerationRequest(int[] prompt, int promptCharacters, GenerationOptions options, boolean stream, boolean includeUsage,
                         int logprobs, ToolUse tools, boolean reusePrompt, ReasoningSplit.Start reasoning) {

    boolean wantsLogprobs() {
        return logprobs != GenerationJob.NO_LOGPROBS;
    }

    /** This request with each token's log probability and its {@code top} most likely alternatives. */
    GenerationRequest withLogprobs(int top) {
        return new GenerationRequest(prompt, promptCharacters, options, stream, includeUsage, top, tools, reusePrompt, reasoning);
    }
}
