package dev.panllama.server;

import dev.panllama.tokenizer.Tokenizer;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A request's {@code logit_bias} and {@code ignore_eos}, read into the biases the sampler adds to the
 * logits. {@code logit_bias} as OpenAI defines it, an object from token ids to numbers, with
 * llama-server's extensions: {@code false} bans a token, a key that is not an id is a text whose every
 * token gets the bias, and the same pairs may come as an array of {@code [token or text, bias]}.
 * Biases for one token add up, as llama.cpp's do. {@code ignore_eos} bans the tokens that end a
 * generation. Unlike llama-server, which drops them silently, an id outside the vocabulary is refused.
 */
final class LogitBiasFields {

    private LogitBiasFields() {
    }

    static Map<Integer, Float> read(RequestFields body, Tokenizer tokenizer) {
        Map<Integer, Float> biases = new HashMap<>();
        Object field = body.raw("logit_bias");
        if (field instanceof Map<?, ?> byToken) {
            for (Map.Entry<?, ?> pair : byToken.entrySet()) {
                add(biases, tokenizer, pair.getKey(), pair.getValue(), "logit_bias." + pair.getKey());
            }
        } else if (field instanceof List<?> pairs) {
            for (int i = 0; i < pairs.size(); i++) {
                String param = "logit_bias[" + i + "]";
                if (!(pairs.get(i) instanceof List<?> pair) || pair.size() != 2) {
                    throw ApiException.invalid("'" + param + "' must be a pair [token, bias].", param);
                }
                add(biases, tokenizer, pair.get(0), pair.get(1), param);
            }
        } else if (field != null) {
            throw RequestFields.wrongType("logit_bias", "an object from token ids to biases");
        }
        if (body.bool("ignore_eos", false)) {
            tokenizer.vocabulary().endOfGenerationIds().forEach(token -> biases.put(token, Float.NEGATIVE_INFINITY));
        }
        return biases;
    }

    private static void add(Map<Integer, Float> biases, Tokenizer tokenizer, Object key, Object value, String param) {
        float bias;
        if (value instanceof Number number && Double.isFinite(number.doubleValue())) {
            bias = number.floatValue();
        } else if (Boolean.FALSE.equals(value)) {
            bias = Float.NEGATIVE_INFINITY;
        } else {
            throw ApiException.invalid("'" + param + "' must be a number, or false to ban the token.", param);
        }
        for (int token : tokens(tokenizer, key, param)) {
            biases.merge(token, bias, Float::sum);
        }
    }

    /** The token {@code key} names by id (a number, or a string of digits), or the tokens of its text. */
    private static int[] tokens(Tokenizer tokenizer, Object key, String param) {
        long id;
        if (key instanceof Number number && number.doubleValue() == Math.rint(number.doubleValue())) {
            id = number.longValue();
        } else if (key instanceof String text && text.matches("-?\\d{1,18}")) {
            id = Long.parseLong(text);
        } else if (key instanceof String text && !text.isEmpty()) {
            return tokenizer.encode(text, false, false);
        } else {
            throw ApiException.invalid("'" + param + "' must name a token by its id or by its text.", param);
        }
        int size = tokenizer.vocabulary().size();
        if (id < 0 || id >= size) {
            throw ApiException.invalid("Invalid key in 'logit_bias': token " + id + " is not in the vocabulary (ids 0 to " + (size - 1) + ").", param);
        }
        return new int[] {(int) id};
    }
}
