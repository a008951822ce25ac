package dev.panllama.api;

import dev.panllama.chat.Message;
import dev.panllama.eval.Evaluator;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What chats and completions share: one sequence in a KV cache of their own (or of a
 * {@link SharedContext}), the generation loop over it, cancellation from any thread, and a lifetime
 * inside the model's.
 */
abstract sealed class Session implements AutoCloseable permits Chat, Completion {

    final LlamaModel model;
    final Evaluator evaluator;
    final Generator generator;
    final AtomicBoolean cancelled = new AtomicBoolean();
    private boolean closed;
    private Runnable afterClose = () -> { };

    Session(LlamaModel model, Evaluator evaluator) {
        this.model = model;
        this.evaluator = evaluator;
        this.generator = new Generator(evaluator, model);
    }

    /** Stops the generation under way, from any thread; it ends with {@link Generation.StopReason#CANCELLED}. */
    public void cancel() {
        cancelled.set(true);
    }

    /** Tokens this session's KV cache holds: the sequence a next prompt may share a start with. */
    public long cachedTokens() {
        checkOpen();
        return evaluator.position();
    }

    /** The tokens this session's KV cache holds, in order. */
    public int[] cachedIds() {
        checkOpen();
        return evaluator.tokens();
    }

    /**
     * Saves what this session's KV cache holds (and a chat's messages) to {@code file}, so that
     * {@link #load} continues from it later, in this process or another, without evaluating those
     * tokens again. The file is written beside {@code file} and moved over it once complete.
     *
     * @throws java.io.UncheckedIOException when it cannot be written; an existing file is then untouched
     */
    public void save(Path file) {
        checkOpen();
        model.writeSession(file, savedMessages(), evaluator.save());
    }

    /**
     * Replaces what this session holds with a file {@link #save} wrote for the same model file and
     * ggml pin; returns how many tokens its cache then holds. A next prompt that starts with them
     * evaluates only the rest.
     *
     * @throws SessionFileException when the file is missing, not a session, truncated, damaged, saved
     *                              with another model or pin (the session is then untouched), or holds
     *                              more than this context takes (the cache is then empty)
     */
    public int load(Path file) {
        checkOpen();
        SessionFile.Contents contents = model.readSession(file);
        try {
            evaluator.restore(contents.state());
        } catch (IllegalArgumentException e) {
            throw new SessionFileException(file + " cannot be restored here: " + e.getMessage(), e);
        }
        loadedMessages(contents.messages());
        return contents.state().tokens().length;
    }

    /** The messages a saved session carries: a chat's conversation, none for a completion. */
    List<Message> savedMessages() {
        return List.of();
    }

    /** Takes the messages of a loaded session. */
    void loadedMessages(List<Message> messages) {
    }

    void checkOpen() {
        model.checkOpen();
        if (closed) {
            throw new IllegalStateException("this " + getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT) + " is closed");
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            evaluator.close();
            model.forget(this);
            afterClose.run();
        }
    }

    /** Runs {@code action} once this session is closed: a shared context forgets it. */
    void afterClose(Runnable action) {
        afterClose = action;
    }
}
