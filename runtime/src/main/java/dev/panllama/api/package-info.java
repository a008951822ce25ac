/**
 * panllama's Java API: open a GGUF model, chat with it or complete prompts, stream the tokens.
 *
 * <ul>
 *   <li>{@link dev.panllama.api.LlamaModel} opens a model ({@link dev.panllama.api.ModelOptions}: threads,
 *       context length, micro-batch, KV cache types, mmap) and makes chats and completions.</li>
 *   <li>{@link dev.panllama.api.Chat} holds a conversation in the model's chat format and reuses the KV
 *       cache between turns; {@link dev.panllama.api.Completion} continues raw prompts.</li>
 *   <li>{@link dev.panllama.api.GenerationOptions} says when to stop (token limit, stop strings) and how
 *       to sample ({@link dev.panllama.sampling.SamplingOptions}), and for structured output the JSON
 *       schema the reply must follow ({@code withJsonSchema}, {@code withJsonObject}); every generation returns a
 *       {@link dev.panllama.api.Generation} with the text, the token ids, the stop reason and timings.</li>
 *   <li>Replies arrive whole, through a callback, as a {@link java.util.stream.Stream} or as a
 *       {@link java.util.concurrent.Flow.Publisher}; {@code cancel()} stops one from any thread.</li>
 * </ul>
 *
 * <p>Threads: a model may be shared; each chat or completion is used by one thread at a time.
 * Lifetimes: closing a model closes what was made from it and frees all native memory; anything used
 * after it is closed throws {@link java.lang.IllegalStateException}.
 *
 * <p>Below this package, {@code dev.panllama.model} (architectures, weights, KV cache, evaluator),
 * {@code dev.panllama.tokenizer}, {@code dev.panllama.gguf} and {@code dev.panllama.ggml} (the thin
 * layer over the native library) are usable directly for lower-level work.
 */
package dev.panllama.api;
