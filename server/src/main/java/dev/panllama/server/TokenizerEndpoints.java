package dev.panllama.server;

import dev.panllama.tokenizer.Tokenizer;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * llama-server's {@code POST /tokenize} and {@code POST /detokenize}, with its fields and defaults, for
 * the clients that count or inspect tokens through it. {@code /tokenize} takes {@code content} (a string,
 * or an array of strings and token ids, the ids kept as they are), {@code add_special} (BOS where the
 * vocabulary asks for it; off), {@code parse_special} (special tokens written in the text; on) and
 * {@code with_pieces} (each id with its text, or its bytes where they are not whole UTF-8); only the
 * first string of an array gets the BOS, as in llama-server. {@code /detokenize} joins the tokens'
 * texts, special tokens included.
 */
final class TokenizerEndpoints {

    private final Tokenizer tokenizer;

    TokenizerEndpoints(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    Map<String, Object> tokenize(RequestFields body) {
        if (!body.has("content")) {
            throw ApiException.missing("content");
        }
        List<Integer> ids = mixed(tokenizer, body.raw("content"), "content", body.bool("add_special", false),
                body.bool("parse_special", true));
        if (!body.bool("with_pieces", false)) {
            return Map.of("tokens", ids);
        }
        List<Map<String, Object>> pieces = new ArrayList<>();
        for (int id : ids) {
            Map<String, Object> piece = new LinkedHashMap<>();
            piece.put("id", id);
            piece.put("piece", text(tokenizer.pieceBytes(id, true)));
            pieces.add(piece);
        }
        return Map.of("tokens", pieces);
    }

    Map<String, Object> detokenize(RequestFields body) {
        List<?> tokens = body.array("tokens").orElseThrow(() -> ApiException.missing("tokens"));
        int[] ids = new int[tokens.size()];
        for (int i = 0; i < ids.length; i++) {
            String param = "tokens[" + i + "]";
            ids[i] = RequestFields.tokenId(tokens.get(i), tokenizer.vocabulary().size(), param, param);
        }
        return Map.of("content", tokenizer.decode(ids));
    }

    /**
     * {@code value}, the request's {@code param}, as token ids, as llama-server reads a "mixed" prompt: a string
     * tokenized, or an array of strings tokenized and token ids kept as they are (only a first string gets the
     * BOS {@code addSpecial} asks for).
     */
    static List<Integer> mixed(Tokenizer tokenizer, Object value, String param, boolean addSpecial, boolean parseSpecial) {
        List<Integer> ids = new ArrayList<>();
        if (value instanceof String text) {
            append(ids, tokenizer.encode(text, addSpecial, parseSpecial));
        } else if (value instanceof List<?> parts) {
            for (int i = 0; i < parts.size(); i++) {
                if (parts.get(i) instanceof String text) {
                    append(ids, tokenizer.encode(text, addSpecial && i == 0, parseSpecial));
                } else {
                    String at = param + "[" + i + "]";
                    ids.add(RequestFields.tokenId(parts.get(i), tokenizer.vocabulary().size(), at, at));
                }
            }
        } else {
            throw RequestFields.wrongType(param, "a string, or an array of strings and token ids");
        }
        return ids;
    }

    private static void append(List<Integer> ids, int[] encoded) {
        for (int id : encoded) {
            ids.add(id);
        }
    }

    /** A piece as text when its bytes are whole UTF-8, else as the list of its bytes (0 to 255), as llama-server writes it. */
    private static Object text(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return LogprobsJson.unsigned(bytes);
        }
    }
}
