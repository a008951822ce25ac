package dev.panllama.api;

import dev.panllama.chat.ChatFormat;
import dev.panllama.eval.BatchEvaluator;
import dev.panllama.eval.Evaluator;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One KV cache that several chats and completions of a model hold their sequences in, as a server's
 * parallel requests do ({@link LlamaModel#newSharedContext}): a prompt that starts as another
 * session's cached tokens do (a system prompt common to the chats) takes that start's cells, shared,
 * instead of computing them again, so the prefix is kept once, and a session that goes on past it
 * writes its own cells only ({@link BatchEvaluator#keepOrSharePrefix}, llama.cpp's {@code seq_cp}). The
 * sessions share the context too: its tokens are all theirs together, as in llama.cpp's unified cache.
 * Sessions may be used from several threads; their calls take turns on the cache.
 */
public final class SharedContext implements AutoCloseable {

    private final LlamaModel model;
    private final BatchEvaluator cache;
    private final Set<Session> sessions = ConcurrentHashMap.newKeySet();
    private boolean closed;

    SharedContext(LlamaModel model, BatchEvaluator cache) {
        this.model = model;
        this.cache = cache;
    }

    /** A chat with the model's default format and {@code systemPrompt} (none when null or empty), in this context. */
    public Chat newChat(String systemPrompt) {
        return newChat(systemPrompt, model.defaultChatFormat());
    }

    public Chat newChat(String systemPrompt, ChatFormat format) {
        return held(new Chat(model, nextEvaluator(), format, systemPrompt));
    }

    /** Completion of raw prompts, in this context. */
    public Completion newCompletion() {
        return held(new Completion(model, nextEvaluator()));
    }

    private <S extends Session> S held(S session) {
        sessions.add(session);
        session.afterClose(() -> sessions.remove(session));
        return session;
    }

    /**
     * An evaluator of the first sequence no open session holds.
     *
     * @throws IllegalStateException when every sequence is held
     */
    private Evaluator nextEvaluator() {
        synchronized (cache) {
            checkOpen();
            for (int sequence = 0; sequence < cache.sequences(); sequence++) {
                if (!cache.isOpen(sequence)) {
                    return new Evaluator(cache, sequence);
                }
            }
        }
        throw new IllegalStateException("all " + cache.sequences() + " sequences of this shared context are held: close a chat "
                + "or completion of it, or make the context with more (LlamaModel.newSharedContext)");
    }

    /** How many sessions it may hold at once. */
    public int sequences() {
        return cache.sequences();
    }

    /** Cells of the cache that hold keys and values: a prefix several sessions share is counted once. */
    public long cellsInUse() {
        synchronized (cache) {
            checkOpen();
            return cache.cellsInUse();
        }
    }

    /** Bytes of memory the cache takes now (in host memory, the pages its tokens have written). */
    public long cacheCommittedBytes() {
        synchronized (cache) {
            checkOpen();
            return cache.cacheCommittedBytes();
        }
    }

    /** How many times a session's prompt started from another session's cells rather than computing them. */
    public long prefixesShared() {
        synchronized (cache) {
            return cache.prefixesShared();
        }
    }

    private void checkOpen() {
        model.checkOpen();
        if (closed) {
            throw new IllegalStateException("this shared context is closed");
        }
    }

    /** Closes its sessions, then the cache. */
    @Override
    public void close() {
        synchronized (cache) {
            if (closed) {
                return;
            }
            closed = true;
        }
        for (Session session : java.util.List.copyOf(sessions)) {
            session.close();
        }
        synchronized (cache) {   // after a call another thread has under way
            cache.close();
        }
        model.forget(this);
    }
}
