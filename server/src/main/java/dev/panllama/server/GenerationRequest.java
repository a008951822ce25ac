package dev.panllama.server;

import dev.panllama.api.GenerationOptions;

/**
 * One request to generate, read and checked: the prompt as token ids, how to generate, and how the
 * reply goes back (streamed as server-sent events or whole; with the token counts in the stream's
 * last event when {@code stream_options.include_usage} asks for them).
 */
record GenerationRequest(int[] prompt, GenerationOptions options, boolean stream, boolean includeUsage) {
}
