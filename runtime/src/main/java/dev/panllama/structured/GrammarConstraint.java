package dev.panllama.structured;

import dev.panllama.tokenizer.Vocabulary;

import java.util.Arrays;

/**
 * One generation under a {@link Grammar}: which tokens keep the text a prefix of the grammar's, the end
 * of generation only where the root is whole, and whether it is finished (whole, and no reading can go
 * on). Tokens without text (control tokens) come only where the grammar names them as tokens; llama.cpp
 * matches their markup as text, which the reply then does not show. Not thread-safe; one per generation.
 */
public final class GrammarConstraint implements OutputConstraint {

    private final VocabularyTrie trie;
    private final Vocabulary vocabulary;
    private final boolean[] allowed;
    private GrammarState state;

    GrammarConstraint(GrammarState start, VocabularyTrie trie, Vocabulary vocabulary) {
        if (trie.size() != vocabulary.size()) {
            throw new IllegalArgumentException("the vocabulary trie has " + trie.size() + " tokens, the vocabulary " + vocabulary.size());
        }
        if (start.isDead()) {
            throw new IllegalArgumentException("the grammar's root matches nothing");
        }
        this.state = start;
        this.trie = trie;
        this.vocabulary = vocabulary;
        this.allowed = new boolean[trie.size()];
    }

    @Override
    public boolean allows(int token) {
        if (vocabulary.isEndOfGeneration(token)) {
            return state.allowsEnd();
        }
        // Some models' output rows outnumber their vocabulary: those extra ids are no text at all.
        if (token < 0 || token >= trie.size()) {
            return false;
        }
        state.check();
        return !state.afterToken(token, trie.bytes(token)).isDead();
    }

    @Override
    public boolean mask(float[] logits) {
        Arrays.fill(allowed, false);
        state.check();
        trie.allowed(state, allowed);
        state.allowTokens(allowed, trie);
        for (int token : vocabulary.endOfGenerationIds()) {
            if (token >= 0 && token < allowed.length) {
                allowed[token] = state.allowsEnd();
            }
        }
        return VocabularyTrie.maskAllBut(allowed, logits);
    }

    @Override
    public void accept(int token) {
        if (vocabulary.isEndOfGeneration(token)) {
            return;
        }
        state.check();
        GrammarState next = state.afterToken(token, trie.bytes(token));
        if (next.isDead()) {
            throw new IllegalStateException("token " + token + " breaks the grammar");
        }
        state = next;
    }

    @Override
    public boolean isFinished() {
        return state.allowsEnd() && !state.canContinue();
    }
}
