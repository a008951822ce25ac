package dev.panllama.parity;

import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.gguf.GgufFile;
import dev.panllama.reference.Reference;
import dev.panllama.structured.Grammar;
import dev.panllama.structured.GrammarConstraint;
import dev.panllama.structured.VocabularyTrie;
import dev.panllama.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GBNF grammars leave the same tokens as llama.cpp's grammar sampler of the pin, over the Llama 3
 * vocabulary, at every step of a text each grammar takes (tokenized as the model would write it, so that
 * tokens split characters of Japanese and emoji): the pinned tree's example grammars and some of syntax
 * of their own. The one difference allowed is control tokens, which llama.cpp matches by their markup's
 * text and panllama only where a grammar names them as tokens: panllama never allows a token llama.cpp
 * does not. Grammars that libllama refuses, panllama refuses too.
 * <p>
 * Left out on purpose: a negated token element after text within one token. llama.cpp's mask then lets
 * through a token whose text runs on past the text into the token element (it checks the rest by the
 * token's id), and taking that token throws in its accept; panllama lets no token cross into a token element.
 */
class GrammarParityTest {

    @TempDir
    static Path temp;
    static Path vocabulary;
    static Tokenizer tokenizer;
    static VocabularyTrie trie;

    @BeforeAll
    static void loadVocabulary() throws IOException {
        vocabulary = UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf");
        try (GgufFile file = GgufFile.open(vocabulary)) {
            tokenizer = Tokenizer.of(file.metadata());
        }
        trie = VocabularyTrie.of(tokenizer);
    }

    /** A grammar of the pinned tree's {@code grammars} folder. */
    private static String pinned(String name) throws IOException {
        return Files.readString(UserCache.user().source(NativePin.current()).resolve("grammars").resolve(name + ".gbnf"));
    }

    @Test
    void thePinnedExampleGrammarsLeaveWhatLlamaCppLeaves() throws IOException {
        int steps = 0;
        steps += compare(pinned("arithmetic"), "12+x*(3-4)= 5\ny= z\n");
        steps += compare(pinned("chess"), "1. e4 e5\n2. Nf3 Nc6\n3. O-O Qxd8+\n");
        steps += compare(pinned("english"), "Hello, world! It's 42.\nBye");
        steps += compare(pinned("japanese"), "こんにちは 世界、カタカナ");
        steps += compare(pinned("list"), "- first item\n- ünïcödé and an emoji 😀\n");
        steps += compare(pinned("json"), "{\"name\": \"Ada\", \"n\": [1, -2.5e3, true, null], \"s\": \"a\\u00e9\\n\"}");
        steps += compare(pinned("json_arr"), "[\n{\"a\": 1},\n\"x\"\n]");
        steps += compare(pinned("c"), "int main(){int x = 1;while(x<10){x = x+1;}return x;}");
        assertTrue(steps > 100, "steps compared: " + steps);
    }

    @Test
    void repetitionsClassesAndTokensLeaveWhatLlamaCppLeaves() throws IOException {
        compare("root ::= \"ab\"{2}? \"b\"+ \"c\"? [0-9]{0,2}", "ababbbc7");
        compare("root ::= [a-c]{2,4} \"-\" [^\\n]{0,3} \".\" ([0-9] [0-9]?){1,} \"!\"?", "abc-xyz.123!");
        compare("""
                root ::= greeting (", " name)* end # names then an end
                greeting ::= ("hello" | "hi" | "héllo")
                name ::= [A-Z] [a-z]+
                end ::= "." | "!" | [\\u2026]
                """, "héllo, Ada, Bob…");
        // Tokens that a grammar names are matched by id at a token's start: the sequences are built token by token.
        int header = tokenizer.vocabulary().id("<|start_header_id|>");
        compare("root ::= \"x\" <|start_header_id|> \"y\" <[35]>", join(tokenizer.encode("x", false, false), new int[] {header},
                tokenizer.encode("y", false, false), new int[] {35}), "x, the header token, y, token 35");
        compare("root ::= !<[13]> [a-z ]*", tokenizer.encode("go home", false, false), "go home");
    }

    @Test
    void grammarsLibllamaRefusesAreRefused() throws IOException {
        for (String invalid : List.of("root ::= missing", "start ::= \"a\"", "root ::= root \"a\" | \"b\"", "root ::= \"a",
                "root ::= [a-", "root ::= \"\\q\"", "root ::= \"a\"{2001}", "root ::= x\nx ::= y\ny ::= x \"a\"",
                "root ::= (\"a\"", "root ::= \"a\" {1,x}", "root = \"a\"")) {
            assertTrue(new Reference(temp).grammarMasks(vocabulary, invalid, new int[0]).isEmpty(), "libllama took " + invalid);
            assertThrows(IllegalArgumentException.class, () -> Grammar.parse(invalid), invalid);
        }
    }

    private static int[] join(int[]... parts) {
        return java.util.Arrays.stream(parts).flatMapToInt(java.util.Arrays::stream).toArray();
    }

    /** Compares the tokens left at each step of {@code text}'s tokens under {@code gbnf}; returns the steps compared. */
    private static int compare(String gbnf, String text) throws IOException {
        return compare(gbnf, tokenizer.encode(text, false, true), text);
    }

    private static int compare(String gbnf, int[] tokens, String text) throws IOException {
        List<int[]> expected = new Reference(temp).grammarMasks(vocabulary, gbnf, tokens);
        assertEquals(tokens.length + 1, expected.size(), "libllama took the grammar: " + gbnf);
        GrammarConstraint constraint = Grammar.parse(gbnf).constraint(trie, tokenizer);
        List<String> failures = new ArrayList<>();
        for (int step = 0; step <= tokens.length; step++) {
            float[] logits = new float[tokenizer.vocabulary().size()];
            constraint.mask(logits);
            BitSet ours = new BitSet();
            for (int token = 0; token < logits.length; token++) {
                if (logits[token] != Float.NEGATIVE_INFINITY) {
                    ours.set(token);
                }
            }
            BitSet theirs = new BitSet();
            for (int token : expected.get(step)) {
                theirs.set(token);
            }
            BitSet onlyOurs = (BitSet) ours.clone();
            onlyOurs.andNot(theirs);
            BitSet onlyTheirs = (BitSet) theirs.clone();
            onlyTheirs.andNot(ours);
            final int at = step;
            onlyTheirs.stream().filter(token -> tokenizer.pieceBytes(token, false).length > 0).limit(5).forEach(token ->
                    failures.add("step " + at + ": llama.cpp allows " + token + " '" + tokenizer.vocabulary().text(token) + "'"));
            onlyOurs.stream().limit(5).forEach(token ->
                    failures.add("step " + at + ": only panllama allows " + token + " '" + tokenizer.vocabulary().text(token) + "'"));
            if (step < tokens.length) {
                assertTrue(constraint.allows(tokens[step]), "step " + step + " of " + text);
                constraint.accept(tokens[step]);
            }
        }
        assertTrue(failures.isEmpty(), gbnf + " over '" + text + "':\n" + String.join("\n", failures.subList(0, Math.min(20, failures.size()))));
        return tokens.length + 1;
    }
}
