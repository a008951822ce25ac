package dev.panllama.structured;

import dev.panllama.tokenizer.Tokenizer;

/** What generated text must look like: a JSON schema's document, or a grammar's text. Immutable; each generation takes its own constraint. */
public sealed interface StructuredOutput permits JsonSchema, Grammar {

    /**
     * The constraint for one generation over a model's vocabulary ({@code trie} of {@code tokenizer}'s tokens).
     *
     * @throws IllegalArgumentException when the structure names what this vocabulary lacks
     */
    OutputConstraint constraint(VocabularyTrie trie, Tokenizer tokenizer);
}
