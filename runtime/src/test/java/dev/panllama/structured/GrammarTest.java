package dev.panllama.structured;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GBNF as llama.cpp reads it: which texts a grammar takes whole, which it takes a start of, and the errors it refuses with. */
class GrammarTest {

    static final String ARITHMETIC = """
            root  ::= (expr "=" ws term "\\n")+
            expr  ::= term ([-+*/] term)*
            term  ::= ident | num | "(" ws expr ")" ws
            ident ::= [a-z] [a-z0-9_]* ws
            num   ::= [0-9]+ ws
            ws    ::= [ \\t\\n]*
            """;

    @Test
    void takesWholeTextsAndTheirStartsOnly() {
        Grammar grammar = Grammar.parse(ARITHMETIC);
        assertTrue(grammar.accepts("1+2= 3\n"));
        assertTrue(grammar.accepts("(a*b2)/7= x\ny=z\n"));
        assertFalse(grammar.accepts("1+2= 3"), "a start, not a whole text");
        assertFalse(grammar.accepts("1+= 3\n"));
        GrammarState start = GrammarState.start(grammar);
        assertFalse(start.feed("(a*b").isDead());
        assertTrue(start.feed("(A").isDead(), "no upper case");
    }

    @Test
    void repetitionsCountAsWritten() {
        Grammar grammar = Grammar.parse("root ::= \"ab\"{2,3} [x]{2} \"c\"? [0-9]{1,}");
        assertTrue(grammar.accepts("ababxx1"));
        assertTrue(grammar.accepts("abababxxc123"));
        assertFalse(grammar.accepts("abxx1"));
        assertFalse(grammar.accepts("abababababxx1"));
        assertFalse(grammar.accepts("ababxxc"));
        assertTrue(Grammar.parse("root ::= [a]{0} \"b\"").accepts("b"));
        assertTrue(Grammar.parse("root ::= (\"x\" | \"yz\"){1,2}").accepts("yzx"));
        Grammar repeatedRepetition = Grammar.parse("root ::= \"a\"{2}? \"b\"");
        assertTrue(repeatedRepetition.accepts("b"));
        assertTrue(repeatedRepetition.accepts("aab"));
        assertFalse(repeatedRepetition.accepts("ab"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Grammar.parse("root ::= \"abcd\"{2000}{2000}"))
                .getMessage().contains("expand past"));
    }

    @Test
    void classesEscapesAndUnicode() {
        Grammar grammar = Grammar.parse("""
                # a comment line
                root ::= [^"\\\\\\x00-\\x1f]+ "\\"" ["\\u00e9\\U0001F600-\\U0001F64F] . # and a trailing one
                """);
        assertTrue(grammar.accepts("abc\"é!"));
        assertTrue(grammar.accepts("x\"\uD83D\uDE00\u00e9"));
        assertFalse(grammar.accepts("a\\b\"é!"), "a backslash is outside the first class");
        assertFalse(grammar.accepts("\"é!"), "one character at least before the quote");
        // A character split across tokens: its first bytes are alive while some class can still take it.
        GrammarState quote = GrammarState.start(grammar).feed("a\"");
        assertFalse(quote.feed(0xC3).isDead(), "the start of é");
        assertFalse(quote.feed(0xC3).mayEndToken() && quote.feed(0xE2).mayEndToken(), "no class takes a character starting E2");
        assertTrue(quote.feed(0xC3).mayEndToken());
        assertTrue(quote.feed(0x80).isDead(), "a continuation byte cannot start a character");
    }

    @Test
    void emptyAlternativesAndNestedGroups() {
        Grammar grammar = Grammar.parse("""
                root ::= (item ("," item)*)?
                item ::= ("a" | "b" ("c" | ))
                """);
        assertTrue(grammar.accepts(""));
        assertTrue(grammar.accepts("a,bc,b"));
        assertFalse(grammar.accepts("a,"));
        GrammarState whole = GrammarState.start(Grammar.parse("root ::= \"yes\" | \"no\"")).feed("yes");
        assertTrue(whole.allowsEnd());
        assertFalse(whole.canContinue(), "nothing may follow a whole 'yes'");
    }

    /**
     * A grammar that reads the same text in ever more ways (a recursion through nested repetitions) is refused
     * once its readings pass the bound, rather than filling the memory.
     */
    @Test
    void aGrammarTooAmbiguousToFollowIsRefusedNotFollowedOutOfMemory() {
        Grammar growing = Grammar.parse("root ::= r\nr ::= (. r r)* | .*");
        assertTrue(growing.accepts("abc"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> growing.accepts("abcabcabcabcabcabcabcabc"))
                .getMessage().startsWith("the grammar is too ambiguous to follow"));
    }

    @Test
    void refusesWhatItCannotMatchWithWhere() {
        assertEquals("the grammar uses rule 'missing' but does not define it",
                assertThrows(IllegalArgumentException.class, () -> Grammar.parse("root ::= missing")).getMessage());
        assertEquals("the grammar has no 'root' rule to start from",
                assertThrows(IllegalArgumentException.class, () -> Grammar.parse("start ::= \"a\"")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Grammar.parse("root ::= root \"a\" | \"b\""))
                .getMessage().contains("left-recursive at rule 'root'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Grammar.parse("root ::= x \"a\"\nx ::= \"\" | root"))
                .getMessage().contains("left-recursive"));
        assertEquals("grammar line 2, column 9: a string literal is not closed",
                assertThrows(IllegalArgumentException.class, () -> Grammar.parse("root ::= a\na ::= \"b")).getMessage());
        assertEquals("grammar line 1, column 11: unknown escape '\\q'",
                assertThrows(IllegalArgumentException.class, () -> Grammar.parse("root ::= \"\\q\"")).getMessage());
        assertEquals("grammar line 1, column 6: expected '::=' after the rule name 'root'",
                assertThrows(IllegalArgumentException.class, () -> Grammar.parse("root = \"a\"")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Grammar.parse("root ::= \"a\"{2001}"))
                .getMessage().contains("more than 2000"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Grammar.parse("root ::= * \"a\""))
                .getMessage().contains("need something before them"));
    }
}
