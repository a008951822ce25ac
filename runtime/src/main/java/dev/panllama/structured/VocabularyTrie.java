package dev.panllama.structured;

import dev.panllama.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.Comparator;

/**
 * Every token's text (its bytes, as generation decodes it) in a prefix tree, so that checking the
 * whole vocabulary against a matcher feeds each shared prefix once and skips every token below a
 * prefix the matcher refuses. Built once per model; immutable.
 *
 * <p>Nodes are stored in depth-first order: node {@code i}'s subtree is nodes {@code i} to
 * {@code subtreeEnd[i] - 1}, so a refused prefix is skipped by one jump. Tokens with no text (control
 * tokens) are not in the tree.
 */
public final class VocabularyTrie {

    private final byte[][] tokenBytes;
    private final byte[] edge;        // the byte that leads into each node (node 0, the root, has none)
    private final int[] depth;
    private final int[] subtreeEnd;
    private final int[] tokensFrom;   // the tokens whose text ends at node i: sortedTokens[tokensFrom[i] .. tokensFrom[i+1])
    private final int[] sortedTokens;
    private final int maxDepth;

    private VocabularyTrie(byte[][] tokenBytes) {
        this.tokenBytes = tokenBytes;
        Integer[] order = new Integer[tokenBytes.length];
        int count = 0;
        for (int id = 0; id < tokenBytes.length; id++) {
            if (tokenBytes[id].length > 0) {
                order[count++] = id;
            }
        }
        order = Arrays.copyOf(order, count);
        Arrays.sort(order, Comparator.comparing((Integer id) -> tokenBytes[id], Arrays::compareUnsigned));
        sortedTokens = Arrays.stream(order).mapToInt(Integer::intValue).toArray();

        int capacity = 1;
        for (int id : sortedTokens) {
            capacity += tokenBytes[id].length;
        }
        byte[] edges = new byte[capacity];
        int[] depths = new int[capacity];
        int[] ends = new int[capacity];
        int[] from = new int[capacity + 1];
        int[] path = new int[capacity];   // path[d]: the node at depth d on the current token's path
        int nodes = 1;
        int deepest = 0;
        byte[] previous = new byte[0];
        for (int t = 0; t < sortedTokens.length; t++) {
            byte[] bytes = tokenBytes[sortedTokens[t]];
            int common = Arrays.mismatch(previous, bytes);
            common = common < 0 ? bytes.length : Math.min(common, Math.min(previous.length, bytes.length));
            // Nodes deeper than the shared prefix are done: their subtrees end here.
            for (int d = previous.length; d > common; d--) {
                ends[path[d]] = nodes;
            }
            for (int d = common + 1; d <= bytes.length; d++) {
                edges[nodes] = bytes[d - 1];
                depths[nodes] = d;
                from[nodes] = t;
                path[d] = nodes++;
            }
            // Tokens attach in sorted order, so each node's tokens are one run starting where it was made
            // (or, for a token equal to the one before, where that one's node was made).
            from[nodes] = t + 1;
            deepest = Math.max(deepest, bytes.length);
            previous = bytes;
        }
        for (int d = previous.length; d > 0; d--) {
            ends[path[d]] = nodes;
        }
        ends[0] = nodes;
        edge = Arrays.copyOf(edges, nodes);
        depth = Arrays.copyOf(depths, nodes);
        subtreeEnd = Arrays.copyOf(ends, nodes);
        tokensFrom = Arrays.copyOf(from, nodes + 1);
        maxDepth = deepest;
    }

    /** The tree of {@code tokenizer}'s vocabulary, each token as generation decodes it (control tokens as nothing). */
    public static VocabularyTrie of(Tokenizer tokenizer) {
        byte[][] bytes = new byte[tokenizer.vocabulary().size()][];
        for (int id = 0; id < bytes.length; id++) {
            bytes[id] = tokenizer.vocabulary().isEndOfGeneration(id) ? new byte[0] : tokenizer.pieceBytes(id, false);
        }
        return new VocabularyTrie(bytes);
    }

    static VocabularyTrie of(byte[][] tokenBytes) {
        return new VocabularyTrie(tokenBytes);
    }

    int size() {
        return tokenBytes.length;
    }

    byte[] bytes(int token) {
        return tokenBytes[token];
    }

    /** Marks in {@code allowed} every token whose text {@code matcher} can consume and end at. */
    void allowed(BytePrefix matcher, boolean[] allowed) {
        BytePrefix[] atDepth = new BytePrefix[maxDepth + 1];
        atDepth[0] = matcher;
        int node = 1;
        while (node < edge.length) {
            BytePrefix next = atDepth[depth[node] - 1].feed(edge[node] & 0xFF);
            if (next.isDead()) {
                node = subtreeEnd[node];
                continue;
            }
            atDepth[depth[node]] = next;
            if (next.mayEndToken()) {
                for (int i = tokensFrom[node]; i < tokensFrom[node + 1]; i++) {
                    allowed[sortedTokens[i]] = true;
                }
            }
            node++;
        }
    }

    /**
     * Sets to negative infinity the logit of every token not {@code allowed}, and of every id past the
     * vocabulary (some models' output rows outnumber it); whether any token is allowed.
     */
    static boolean maskAllBut(boolean[] allowed, float[] logits) {
        boolean any = false;
        for (int token = 0; token < logits.length; token++) {
            if (token < allowed.length && allowed[token]) {
                any = true;
            } else {
                logits[token] = Float.NEGATIVE_INFINITY;
            }
        }
        return any;
    }
}
