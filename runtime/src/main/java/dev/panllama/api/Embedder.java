package dev.panllama.api;

import dev.panllama.eval.BatchEvaluator;
import dev.panllama.eval.BatchEvaluator.SequenceTokens;
import dev.panllama.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Embeddings of texts, as llama.cpp computes them ({@code llama-embedding}, {@code llama-server
 * --embeddings}): each text is evaluated alone from position 0 (with its beginning-of-text token), the
 * hidden states after the model's final norm, the vectors its output head reads, are pooled into one
 * ({@link Pooling}), and the result is normalized (Euclidean by default, as llama.cpp's). Texts given
 * together are evaluated together as separate sequences, a micro-batch of tokens at a time, their rows
 * pooled as they come (a long text's rows are never held together); the cache is emptied after each call,
 * so a text's embedding never depends on another.
 * <p>
 * It keeps a KV cache of its own, of the model's context; its evaluation takes turns with the model's
 * other evaluators. Calls from several threads take turns too. Closed with the model if not before.
 */
public final class Embedder implements AutoCloseable {

    /** How the hidden states of a text's tokens become one vector (llama.cpp's {@code --pooling}). */
    public enum Pooling {
        /** Their mean. */
        MEAN,
        /** The first token's (its beginning-of-text token, for Llama models, whose attention is causal). */
        CLS,
        /** The last token's, which has attended to the whole text. */
        LAST;

        /** {@code mean}, {@code cls} or {@code last}, as llama.cpp's {@code --pooling} names them. */
        public static Pooling of(String name) {
            for (Pooling pooling : values()) {
                if (pooling.name().toLowerCase(Locale.ROOT).equals(name)) {
                    return pooling;
                }
            }
            throw new IllegalArgumentException("unknown pooling '" + name + "': it must be mean, cls or last");
        }
    }

    /** llama.cpp's {@code --embd-normalize} values: -1 none, 0 the largest magnitude to 32760, 1 taxicab, 2 Euclidean, p > 2 a p-norm. */
    public static final int EUCLIDEAN = 2;

    private final BatchEvaluator evaluator;
    private final Tokenizer tokenizer;
    private final Pooling pooling;
    private final int width;

    Embedder(BatchEvaluator evaluator, Tokenizer tokenizer, Pooling pooling, int width) {
        this.evaluator = evaluator;
        this.tokenizer = tokenizer;
        this.pooling = pooling;
        this.width = width;
    }

    public Pooling pooling() {
        return pooling;
    }

    /** The floats of an embedding: the model's embedding width. */
    public int dimensions() {
        return width;
    }

    /** The most texts one call evaluates in one batch; more are evaluated in turn. */
    public int batchTexts() {
        return evaluator.sequences();
    }

    /** {@code text}'s embedding, normalized to Euclidean length 1. */
    public float[] embed(String text) {
        return embed(List.of(text), EUCLIDEAN).getFirst();
    }

    /**
     * The embeddings of {@code texts}, in their order, normalized as {@code normalize} says (see {@link #EUCLIDEAN}).
     *
     * @throws IllegalArgumentException a text has no tokens, or has more than the context holds
     */
    public List<float[]> embed(List<String> texts, int normalize) {
        List<int[]> tokens = new ArrayList<>(texts.size());
        for (String text : texts) {
            tokens.add(tokenizer.encode(text, true, true));
        }
        return embedTokens(tokens, normalize);
    }

    /**
     * The embeddings of texts given as token ids, as they are (no beginning-of-text token is added).
     *
     * @throws IllegalArgumentException an input is empty, has more tokens than the context holds, or an id outside the vocabulary
     */
    public synchronized List<float[]> embedTokens(List<int[]> inputs, int normalize) {
        for (int[] input : inputs) {
            if (input.length == 0) {
                throw new IllegalArgumentException("an input to embed has no tokens");
            }
            if (input.length > evaluator.contextLength()) {
                throw new IllegalArgumentException("an input to embed has " + input.length + " tokens, more than the context's "
                        + evaluator.contextLength());
            }
        }
        List<float[]> embeddings = new ArrayList<>(inputs.size());
        int next = 0;
        while (next < inputs.size()) {
            // As many inputs as there are sequences and the context holds, together; one at least.
            List<int[]> group = new ArrayList<>();
            long room = evaluator.contextLength();
            while (next < inputs.size() && group.size() < evaluator.sequences() && (group.isEmpty() || inputs.get(next).length <= room)) {
                room -= inputs.get(next).length;
                group.add(inputs.get(next++));
            }
            try {
                for (float[] pooled : pooled(group)) {
                    embeddings.add(normalized(pooled, normalize));
                }
            } finally {
                for (int sequence = 0; sequence < group.size(); sequence++) {
                    evaluator.keep(sequence, 0);
                }
            }
        }
        return embeddings;
    }

    /**
     * The pooled vectors of {@code group}, evaluated together as sequences 0, 1, ... a piece of each at a time,
     * a micro-batch's worth of tokens in all, so that only those rows are held at once (a long text's rows
     * would take its length times the embedding's width): the mean is summed as the rows come, the first and
     * last rows are kept when their piece is evaluated.
     */
    private List<float[]> pooled(List<int[]> group) {
        double[][] sums = new double[group.size()][width];
        float[][] kept = new float[group.size()][];
        int[] done = new int[group.size()];
        int piece = Math.max(1, evaluator.maxBatch() / group.size());
        while (true) {
            List<SequenceTokens> batch = new ArrayList<>();
            List<Integer> members = new ArrayList<>();
            for (int i = 0; i < group.size(); i++) {
                int[] input = group.get(i);
                if (done[i] == input.length) {
                    continue;
                }
                int[] tokens = Arrays.copyOfRange(input, done[i], Math.min(input.length, done[i] + piece));
                boolean first = done[i] == 0;
                boolean last = done[i] + tokens.length == input.length;
                int firstOutput = switch (pooling) {
                    case MEAN -> 0;
                    case CLS -> first ? 0 : tokens.length;
                    case LAST -> last ? tokens.length - 1 : tokens.length;
                };
                batch.add(new SequenceTokens(i, tokens, firstOutput));
                members.add(i);
                done[i] += tokens.length;
            }
            if (batch.isEmpty()) {
                break;
            }
            List<float[][]> rows = evaluator.evaluate(batch);
            for (int b = 0; b < batch.size(); b++) {
                int i = members.get(b);
                float[][] pieceRows = rows.get(b);
                if (pooling == Pooling.MEAN) {
                    for (float[] row : pieceRows) {
                        for (int d = 0; d < width; d++) {
                            sums[i][d] += row[d];
                        }
                    }
                } else if (pieceRows.length > 0) {
                    kept[i] = pooling == Pooling.CLS ? pieceRows[0] : pieceRows[pieceRows.length - 1];
                }
            }
        }
        List<float[]> vectors = new ArrayList<>(group.size());
        for (int i = 0; i < group.size(); i++) {
            if (pooling != Pooling.MEAN) {
                vectors.add(kept[i]);
                continue;
            }
            float[] mean = new float[width];
            for (int d = 0; d < width; d++) {
                mean[d] = (float) (sums[i][d] / group.get(i).length);
            }
            vectors.add(mean);
        }
        return vectors;
    }

    /** {@code vector} normalized as llama.cpp's {@code common_embd_normalize} does. */
    static float[] normalized(float[] vector, int normalize) {
        double sum = 0;
        switch (normalize) {
            case -1 -> sum = 1;
            case 0 -> {
                for (float x : vector) {
                    sum = Math.max(sum, Math.abs(x));
                }
                sum /= 32760.0;
            }
            case 2 -> {
                for (float x : vector) {
                    sum += x * x;
                }
                sum = Math.sqrt(sum);
            }
            default -> {
                if (normalize < -1) {
                    throw new IllegalArgumentException("normalization " + normalize + " is not one of -1, 0, 1, 2 or a p-norm's p");
                }
                for (float x : vector) {
                    sum += Math.pow(Math.abs(x), normalize);
                }
                sum = Math.pow(sum, 1.0 / normalize);
            }
        }
        float scale = sum > 0 ? (float) (1.0 / sum) : 0f;
        float[] out = new float[vector.length];
        for (int i = 0; i < vector.length; i++) {
            out[i] = vector[i] * scale;
        }
        return out;
    }

    @Override
    public synchronized void close() {
        evaluator.close();
    }
}
