package dev.panllama.structured;

import dev.panllama.tokenizer.Vocabulary;

import java.util.Arrays;

/**
 * One generation's structured output: which tokens keep the text a prefix of a document the schema
 * accepts, the end of generation only once the document is whole, and whether it is finished (whole,
 * and nothing may follow). Not thread-safe; one per generation.
 */
public final class JsonConstraint implements OutputConstraint {

    private final VocabularyTrie trie;
    private final Vocabulary vocabulary;
    private final boolean[] allowed;
    private JsonPrefixMatcher matcher;

    JsonConstraint(JsonPrefixMatcher start, VocabularyTrie trie, Vocabulary vocabulary) {
        if (trie.size() != vocabulary.size()) {
            throw new IllegalArgumentException("the vocabulary trie has " + trie.size() + " tokens, the vocabulary " + vocabulary.size());
        }
        this.matcher = start;
        this.trie = trie;
        this.vocabulary = vocabulary;
        this.allowed = new boolean[trie.size()];
    }

    @Override
    public boolean allows(int token) {
        if (vocabulary.isEndOfGeneration(token)) {
            return matcher.isComplete();
        }
        // Some models' output rows outnumber their vocabulary: those extra ids are no text at all.
        if (token < 0 || token >= trie.size()) {
            return false;
        }
        byte[] bytes = trie.bytes(token);
        return bytes.length > 0 && !matcher.feed(bytes).isDead();
    }

    @Override
    public boolean mask(float[] logits) {
        Arrays.fill(allowed, false);
        trie.allowed(matcher, allowed);
        if (matcher.isComplete()) {
            for (int end : vocabulary.endOfGenerationIds()) {
                allowed[end] = true;
            }
        }
        return VocabularyTrie.maskAllBut(allowed, logits);
    }

    @Override
    public void accept(int token) {
        if (vocabulary.isEndOfGeneration(token)) {
            return;
        }
        JsonPrefixMatcher next = matcher.feed(trie.bytes(token));
        if (next.isDead()) {
            throw new IllegalStateException("token " + token + " breaks the structured output");
        }
        matcher = next;
    }

    /** Whether the text so far is a whole document. */
    public boolean isComplete() {
        return matcher.isComplete();
    }

    @Override
    public boolean isFinished() {
        return matcher.isComplete() && !matcher.canContinue();
    }
}
