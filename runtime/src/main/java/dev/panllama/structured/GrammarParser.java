package dev.panllama.structured;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a grammar in llama.cpp's GBNF: rules {@code name ::= alternatives}, each alternative a sequence
 * of {@code "literals"}, {@code [character classes]} (with ranges and {@code ^}), {@code .}, rule names,
 * {@code ( groups )}, tokens {@code <[id]>} or {@code <name>} (and {@code !} before one: any token but
 * it), each maybe followed by {@code *}, {@code +}, {@code ?} or {@code {m}}, {@code {m,}}, {@code {m,n}};
 * {@code #} comments to the end of the line. A rule ends at a line break outside a group.
 *
 * <p>It writes the rules as {@link Grammar}'s elements: a repetition becomes rules of its own (as
 * llama.cpp rewrites them: {@code S*} is {@code R ::= S R |}), a group a rule of its own.
 */
final class GrammarParser {

    /** Repetition counts above this are refused for the minimum and unbounded for the maximum, as llama.cpp does. */
    static final int MAX_REPETITIONS = 2000;
    /** The most elements repetitions may expand a grammar into: a bound on the memory a request's grammar takes. */
    private static final int MAX_ELEMENTS = 1 << 18;

    private final String text;
    private int at;
    private final Map<String, Integer> ruleIds = new LinkedHashMap<>();
    private final List<int[][]> rules = new ArrayList<>();   // per rule id: {kinds, values}, null until defined
    private final List<String> tokenNames = new ArrayList<>();
    private int elements;

    private GrammarParser(String text) {
        this.text = text;
    }

    /** The grammar {@code text} defines, starting at its {@code root} rule. */
    static Grammar parse(String text, String root) {
        GrammarParser parser = new GrammarParser(text);
        parser.skipSpace(true);
        while (parser.at < text.length()) {
            parser.rule();
        }
        return parser.build(root);
    }

    private Grammar build(String root) {
        for (Map.Entry<String, Integer> rule : ruleIds.entrySet()) {
            if (rules.get(rule.getValue()) == null) {
                throw new IllegalArgumentException("the grammar uses rule '" + rule.getKey() + "' but does not define it");
            }
        }
        Integer start = ruleIds.get(root);
        if (start == null) {
            throw new IllegalArgumentException("the grammar has no '" + root + "' rule to start from");
        }
        int[] ruleStart = new int[rules.size()];
        int total = 0;
        for (int i = 0; i < rules.size(); i++) {
            ruleStart[i] = total;
            total += rules.get(i)[0].length;
        }
        int[] kinds = new int[total];
        int[] values = new int[total];
        for (int i = 0; i < rules.size(); i++) {
            System.arraycopy(rules.get(i)[0], 0, kinds, ruleStart[i], rules.get(i)[0].length);
            System.arraycopy(rules.get(i)[1], 0, values, ruleStart[i], rules.get(i)[1].length);
        }
        // Rule references name rule ids while parsing; the matcher follows them to where the rule starts.
        for (int i = 0; i < total; i++) {
            if (kinds[i] == Grammar.RULE_REF) {
                values[i] = ruleStart[values[i]];
            }
        }
        String[] names = new String[rules.size()];
        ruleIds.forEach((name, id) -> names[id] = name);
        Grammar grammar = new Grammar(text, kinds, values, ruleStart[start], List.copyOf(tokenNames));
        grammar.checkNoLeftRecursion(ruleStart, names);
        // Its first readings, to refuse now a grammar too ambiguous to even start (GrammarState.MAX_READINGS).
        GrammarState.start(grammar);
        return grammar;
    }

    private void rule() {
        String name = name();
        skipSpace(false);
        if (!text.startsWith("::=", at)) {
            throw error("expected '::=' after the rule name '" + name + "'");
        }
        at += 3;
        skipSpace(true);
        // A rule defined again replaces the first definition, as in llama.cpp.
        alternatives(name, ruleId(name), false);
        if (at < text.length()) {
            if (text.charAt(at) == '\r') {
                at += text.startsWith("\r\n", at) ? 2 : 1;
            } else if (text.charAt(at) == '\n') {
                at++;
            } else {
                throw error("expected the end of the line after the rule '" + name + "'");
            }
        }
        skipSpace(true);
    }

    /** Parses alternatives separated by {@code |} into rule {@code id}. */
    private void alternatives(String ruleName, int id, boolean nested) {
        RuleBuilder rule = new RuleBuilder();
        sequence(ruleName, rule, nested);
        while (at < text.length() && text.charAt(at) == '|') {
            rule.add(Grammar.ALT, 0);
            at++;
            skipSpace(true);
            sequence(ruleName, rule, nested);
        }
        rule.add(Grammar.END, 0);
        define(id, rule);
    }

    private void sequence(String ruleName, RuleBuilder rule, boolean nested) {
        // Where the last symbol's elements start, for a repetition to take them; after a repetition, its
        // rewriting is the last symbol (as in llama.cpp, so that "a"*? is ("a"*)?).
        int lastSymbol = -1;
        while (at < text.length()) {
            char c = text.charAt(at);
            if (c == '"') {
                at++;
                lastSymbol = rule.size();
                while (true) {
                    if (at >= text.length()) {
                        throw error("a string literal is not closed");
                    }
                    if (text.charAt(at) == '"') {
                        break;
                    }
                    rule.add(Grammar.CHAR, character());
                }
                at++;
                skipSpace(nested);
            } else if (c == '[') {
                at++;
                int kind = Grammar.CHAR;
                if (at < text.length() && text.charAt(at) == '^') {
                    at++;
                    kind = Grammar.CHAR_NOT;
                }
                lastSymbol = rule.size();
                while (true) {
                    if (at >= text.length()) {
                        throw error("a character class is not closed");
                    }
                    if (text.charAt(at) == ']') {
                        break;
                    }
                    rule.add(rule.size() > lastSymbol ? Grammar.CHAR_ALT : kind, character());
                    if (at + 1 < text.length() && text.charAt(at) == '-' && text.charAt(at + 1) != ']') {
                        at++;
                        rule.add(Grammar.CHAR_RANGE_UPPER, character());
                    }
                }
                at++;
                skipSpace(nested);
            } else if (c == '<' || c == '!') {
                int kind = Grammar.TOKEN;
                if (c == '!') {
                    kind = Grammar.TOKEN_NOT;
                    at++;
                }
                lastSymbol = rule.size();
                rule.add(kind, token());
                skipSpace(nested);
            } else if (isWordChar(c)) {
                String name = name();
                skipSpace(nested);
                lastSymbol = rule.size();
                rule.add(Grammar.RULE_REF, ruleId(name));
            } else if (c == '(') {
                at++;
                skipSpace(true);
                int group = newRule(ruleName);
                alternatives(ruleName, group, true);
                lastSymbol = rule.size();
                rule.add(Grammar.RULE_REF, group);
                if (at >= text.length() || text.charAt(at) != ')') {
                    throw error("expected ')' to close the group");
                }
                at++;
                skipSpace(nested);
            } else if (c == '.') {
                at++;
                lastSymbol = rule.size();
                rule.add(Grammar.CHAR_ANY, 0);
                skipSpace(nested);
            } else if (c == '*' || c == '+' || c == '?') {
                at++;
                skipSpace(nested);
                repeat(ruleName, rule, lastSymbol, c == '+' ? 1 : 0, c == '?' ? 1 : -1);
            } else if (c == '{') {
                at++;
                skipSpace(nested);
                long min = integer();
                skipSpace(nested);
                long max;
                if (at < text.length() && text.charAt(at) == '}') {
                    max = min;
                } else if (at < text.length() && text.charAt(at) == ',') {
                    at++;
                    skipSpace(nested);
                    max = at < text.length() && Character.isDigit(text.charAt(at)) ? integer() : -1;
                    skipSpace(nested);
                    if (at >= text.length() || text.charAt(at) != '}') {
                        throw error("expected '}' to close the repetition");
                    }
                } else {
                    throw error("expected ',' or '}' in the repetition");
                }
                at++;
                skipSpace(nested);
                if (min > MAX_REPETITIONS) {
                    throw error("a repetition of at least " + min + " is more than " + MAX_REPETITIONS);
                }
                if (max > MAX_REPETITIONS) {
                    max = -1;
                }
                if (max >= 0 && max < min) {
                    throw error("a repetition's maximum " + max + " is below its minimum " + min);
                }
                repeat(ruleName, rule, lastSymbol, (int) min, (int) max);
            } else {
                break;
            }
        }
    }

    /**
     * Rewrites the last symbol (elements {@code from} on) as repeated {@code min} to {@code max} times
     * ({@code max} -1: no maximum): {@code min} copies, then for no maximum a rule {@code R ::= S R |}, or
     * else {@code max - min} nested optional rules {@code Ri ::= S Ri+1 |}.
     */
    private void repeat(String ruleName, RuleBuilder rule, int from, int min, int max) {
        if (from < 0) {
            throw error("'*', '+', '?' and '{' need something before them to repeat");
        }
        int[][] symbol = rule.tail(from);
        if ((long) symbol[0].length * Math.max(min, max) + elements > MAX_ELEMENTS) {
            throw error("the grammar's repetitions expand past " + MAX_ELEMENTS + " elements");
        }
        rule.truncate(from);
        for (int i = 0; i < min; i++) {
            rule.addAll(symbol);
        }
        int optional = max < 0 ? 1 : max - min;
        int next = -1;
        for (int i = 0; i < optional; i++) {
            int id = newRule(ruleName);
            RuleBuilder repeated = new RuleBuilder();
            repeated.addAll(symbol);
            if (max < 0) {
                repeated.add(Grammar.RULE_REF, id);
            } else if (next >= 0) {
                repeated.add(Grammar.RULE_REF, next);
            }
            repeated.add(Grammar.ALT, 0);
            repeated.add(Grammar.END, 0);
            define(id, repeated);
            next = id;
        }
        if (optional > 0) {
            rule.add(Grammar.RULE_REF, next);
        }
    }

    private void define(int id, RuleBuilder rule) {
        elements += rule.size();
        if (elements > MAX_ELEMENTS) {
            throw error("the grammar's repetitions expand past " + MAX_ELEMENTS + " elements");
        }
        rules.set(id, rule.build());
    }

    private int ruleId(String name) {
        Integer id = ruleIds.get(name);
        if (id == null) {
            id = rules.size();
            ruleIds.put(name, id);
            rules.add(null);
        }
        return id;
    }

    /** A rule for a group or a repetition, named after the rule it is in (as llama.cpp names them). */
    private int newRule(String base) {
        String name = base + "_" + rules.size();
        while (ruleIds.containsKey(name)) {
            name += "_";
        }
        return ruleId(name);
    }

    private String name() {
        int start = at;
        while (at < text.length() && isWordChar(text.charAt(at))) {
            at++;
        }
        if (at == start) {
            throw error("expected a rule name");
        }
        return text.substring(start, at);
    }

    private long integer() {
        int start = at;
        while (at < text.length() && Character.isDigit(text.charAt(at))) {
            at++;
        }
        if (at == start) {
            throw error("expected a number");
        }
        try {
            return Long.parseLong(text.substring(start, at));
        } catch (NumberFormatException e) {
            throw error("the number " + text.substring(start, at) + " is too large");
        }
    }

    /** {@code <[id]>}: the id; {@code <text>}: minus one minus the index of its text in {@link #tokenNames}, found in the vocabulary later. */
    private int token() {
        if (at >= text.length() || text.charAt(at) != '<') {
            throw error("expected '<' to start a token");
        }
        int start = at;
        at++;
        if (at < text.length() && text.charAt(at) == '[') {
            at++;
            long id = integer();
            if (!text.startsWith("]>", at)) {
                throw error("expected ']>' to close the token id");
            }
            at += 2;
            if (id > Integer.MAX_VALUE) {
                throw error("token id " + id + " is too large");
            }
            return (int) id;
        }
        int end = text.indexOf('>', at);
        if (end < 0) {
            throw error("expected '>' to close the token");
        }
        at = end + 1;
        tokenNames.add(text.substring(start, at));
        return -tokenNames.size();
    }

    /** One character of a literal or a class: a code point, or an escape ({@code \n \t \r \\ \" \[ \] \- \xHH \\uHHHH \UHHHHHHHH}). */
    private int character() {
        char c = text.charAt(at);
        if (c != '\\') {
            int codePoint = text.codePointAt(at);
            at += Character.charCount(codePoint);
            return codePoint;
        }
        if (at + 1 >= text.length()) {
            throw error("an escape is cut off by the end of the grammar");
        }
        char escaped = text.charAt(at + 1);
        at += 2;
        return switch (escaped) {
            case 'x' -> hex(2);
            case 'u' -> hex(4);
            case 'U' -> hex(8);
            case 't' -> '\t';
            case 'r' -> '\r';
            case 'n' -> '\n';
            case '\\', '"', '[', ']', '-' -> escaped;
            default -> {
                at -= 2;
                throw error("unknown escape '\\" + escaped + "'");
            }
        };
    }

    private int hex(int digits) {
        if (at + digits > text.length()) {
            throw error("expected " + digits + " hex digits");
        }
        long value = 0;
        for (int i = 0; i < digits; i++) {
            int digit = Character.digit(text.charAt(at + i), 16);
            if (digit < 0) {
                throw error("expected " + digits + " hex digits");
            }
            value = value << 4 | digit;
        }
        at += digits;
        if (value > Character.MAX_CODE_POINT) {
            throw error("\\U" + Long.toHexString(value) + " is past the last Unicode code point");
        }
        return (int) value;
    }

    /** Spaces, tabs and comments; line breaks too where {@code newlines} (inside a group, or between rules). */
    private void skipSpace(boolean newlines) {
        while (at < text.length()) {
            char c = text.charAt(at);
            if (c == '#') {
                while (at < text.length() && text.charAt(at) != '\n' && text.charAt(at) != '\r') {
                    at++;
                }
            } else if (c == ' ' || c == '\t' || newlines && (c == '\r' || c == '\n')) {
                at++;
            } else {
                return;
            }
        }
    }

    private static boolean isWordChar(char c) {
        return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-';
    }

    /** A parse error at the current position, as line and column. */
    private IllegalArgumentException error(String message) {
        int line = 1;
        int lineStart = 0;
        for (int i = 0; i < Math.min(at, text.length()); i++) {
            if (text.charAt(i) == '\n') {
                line++;
                lineStart = i + 1;
            }
        }
        return new IllegalArgumentException("grammar line " + line + ", column " + (at - lineStart + 1) + ": " + message);
    }

    /** A rule's elements as they are parsed. */
    private static final class RuleBuilder {
        private int[] kinds = new int[16];
        private int[] values = new int[16];
        private int size;

        void add(int kind, int value) {
            if (size == kinds.length) {
                kinds = Arrays.copyOf(kinds, size * 2);
                values = Arrays.copyOf(values, size * 2);
            }
            kinds[size] = kind;
            values[size++] = value;
        }

        void addAll(int[][] elements) {
            for (int i = 0; i < elements[0].length; i++) {
                add(elements[0][i], elements[1][i]);
            }
        }

        int size() {
            return size;
        }

        int[][] tail(int from) {
            return new int[][] {Arrays.copyOfRange(kinds, from, size), Arrays.copyOfRange(values, from, size)};
        }

        void truncate(int to) {
            size = to;
        }

        int[][] build() {
            return tail(0);
        }
    }
}
