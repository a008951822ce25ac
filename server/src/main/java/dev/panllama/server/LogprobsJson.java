package dev.panllama.server;

import dev.panllama.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * OpenAI's JSON for log probabilities, in its two shapes: a chat's list of entries (token, log
 * probability, UTF-8 bytes, top alternatives) and a text completion's parallel lists (tokens, their log
 * probabilities, maps of the top alternatives, character offsets from the prompt's start). A token's
 * text is what it adds to the reply: a control token's is empty, as in the reply's text; a token that
 * holds part of a UTF-8 character shows the replacement character, and its bytes say what it holds.
 */
final class LogprobsJson {

    private final Tokenizer tokenizer;

    LogprobsJson(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** A chat choice's {@code logprobs}: {@code content} holds an entry per token. */
    Map<String, Object> chat(List<TokenLogprobs> tokens) {
        Map<String, Object> logprobs = new LinkedHashMap<>();
        logprobs.put("content", entries(tokens, this::entry));
        logprobs.put("refusal", null);
        return logprobs;
    }

    /** The Responses API's {@code logprobs} of a piece of output text: an entry per token, as a chat's. */
    List<Map<String, Object>> responses(List<TokenLogprobs> tokens) {
        return entries(tokens, this::entry);
    }

    /**
     * llama-server's own {@code completion_probabilities}: an entry per token (its id, text, UTF-8 bytes and
     * log probability) with its top alternatives as entries too. A token's text leaves out a UTF-8
     * character it cuts off at its end, as llama-server's does.
     */
    List<Map<String, Object>> llamaServer(List<TokenLogprobs> tokens) {
        return entries(tokens, this::llamaServerEntry);
    }

    /** A token's JSON entry, from its id and log probability. */
    private interface Entry {
        Map<String, Object> of(int token, double logprob);
    }

    /** An entry per token, each with its alternatives' entries as {@code top_logprobs}: a chat's and llama-server's lists. */
    private static List<Map<String, Object>> entries(List<TokenLogprobs> tokens, Entry entry) {
        List<Map<String, Object>> entries = new ArrayList<>(tokens.size());
        for (TokenLogprobs scored : tokens) {
            Map<String, Object> chosen = entry.of(scored.token(), scored.logprob());
            List<Map<String, Object>> top = new ArrayList<>(scored.top().size());
            for (TokenLogprobs.Candidate candidate : scored.top()) {
                top.add(entry.of(candidate.token(), candidate.logprob()));
            }
            chosen.put("top_logprobs", top);
            entries.add(chosen);
        }
        return entries;
    }

    private Map<String, Object> llamaServerEntry(int token, double logprob) {
        byte[] bytes = tokenizer.pieceBytes(token, false);
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("id", token);
        entry.put("token", new String(bytes, 0, wholeCharacters(bytes), StandardCharsets.UTF_8));
        entry.put("bytes", unsigned(bytes));
        entry.put("logprob", logprob);
        return entry;
    }

    /** How many of {@code bytes} come before a UTF-8 character cut off at their end (all of them when none is). */
    static int wholeCharacters(byte[] bytes) {
        for (int back = 1; back <= Math.min(4, bytes.length); back++) {
            int b = bytes[bytes.length - back] & 0xff;
            int length = (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : (b & 0xf8) == 0xf0 ? 4 : 0;
            if (length > back) {
                return bytes.length - back;
            }
        }
        return bytes.length;
    }

    /**
     * A text completion's {@code logprobs}, for tokens whose text starts {@code promptCharacters}
     * characters from the prompt's start: the whole reply's in one piece, or a stream's piece by piece.
     */
    TextPieces text(int promptCharacters) {
        return new TextPieces(promptCharacters);
    }

    /**
     * A text completion choice's {@code logprobs}, a piece at a time: each piece's offsets go on from
     * where the last piece's tokens ended. Each token's map of alternatives holds the chosen token too,
     * as OpenAI's does.
     */
    final class TextPieces {

        private int offset;

        private TextPieces(int offset) {
            this.offset = offset;
        }

        Map<String, Object> next(List<TokenLogprobs> tokens) {
            List<String> texts = new ArrayList<>(tokens.size());
            List<Double> logprobs = new ArrayList<>(tokens.size());
            List<Map<String, Double>> tops = new ArrayList<>(tokens.size());
            List<Integer> offsets = new ArrayList<>(tokens.size());
            for (TokenLogprobs scored : tokens) {
                String text = tokenText(scored.token());
                texts.add(text);
                logprobs.add(scored.logprob());
                Map<String, Double> top = new LinkedHashMap<>();
                for (TokenLogprobs.Candidate candidate : scored.top()) {
                    top.putIfAbsent(tokenText(candidate.token()), candidate.logprob());
                }
                top.putIfAbsent(text, scored.logprob());
                tops.add(top);
                offsets.add(offset);
                offset += text.codePointCount(0, text.length());
            }
            Map<String, Object> json = new LinkedHashMap<>();
            json.put("tokens", texts);
            json.put("token_logprobs", logprobs);
            json.put("top_logprobs", tops);
            json.put("text_offset", offsets);
            return json;
        }
    }

    private Map<String, Object> entry(int token, double logprob) {
        byte[] bytes = tokenizer.pieceBytes(token, false);
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("token", new String(bytes, StandardCharsets.UTF_8));
        entry.put("logprob", logprob);
        entry.put("bytes", unsigned(bytes));
        return entry;
    }

    /** {@code bytes} as JSON writes a token's bytes (OpenAI's and llama-server's): numbers from 0 to 255. */
    static List<Integer> unsigned(byte[] bytes) {
        List<Integer> values = new ArrayList<>(bytes.length);
        for (byte b : bytes) {
            values.add(b & 0xff);
        }
        return values;
    }

    private String tokenText(int token) {
        return new String(tokenizer.pieceBytes(token, false), StandardCharsets.UTF_8);
    }
}
