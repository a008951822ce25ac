package dev.panllama.structured;

/**
 * What {@link VocabularyTrie} walks the vocabulary with: the state of a constraint after some bytes,
 * immutable, so that tokens sharing a prefix share its state.
 */
interface BytePrefix {

    /** The state after one more byte (0-255). */
    BytePrefix feed(int b);

    /** Whether no text the constraint allows begins with the bytes fed. */
    boolean isDead();

    /** Whether a token may end here: a grammar refuses a token that ends inside a character none of its readings can take. */
    default boolean mayEndToken() {
        return true;
    }
}
