package dev.panllama.chat;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.function.IntPredicate;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Jinja template rewritten so that Jinjava reads it as Python's Jinja does, where Jinjava's syntax or
 * precedence differs and no filter, test or tag of ours can make up for it. Each rewrite touches only
 * the constructs it names and keeps the rest of the text as it is; {@link #forJinjava} applies them all.
 */
final class JinjavaDialect {

    private JinjavaDialect() {
    }

    /** {@code template} with every rewrite below, in the order they need. */
    static String forJinjava(String template) {
        List<String> rawTexts = new ArrayList<>();
        String rewritten = withDictClosesSpaced(withOutputsAsPythonText(withLoopNeighbours(withNotAroundComparisons(withNamedArgumentsGrouped(
                withSlicesAsCalls(withSignsSpaced(withLoopElses(withLoopFilters(withCommentsAsSeparators(
                        withRawBlocksSetAside(withBlockIndentsStripped(template), rawTexts)))))))))));
        return withRawBlocksRestored(rewritten, rawTexts);
    }

    /**
     * {@code template} with a space between the closing braces of nested dict literals in an expression
     * ({@code {'a': {'b': 1}}} becomes {@code {'a': {'b': 1} }}): Jinjava's lexer ends an expression at the first
     * {@code }}} it meets, Jinja's at the one that closes the expression.
     */
    static String withDictClosesSpaced(String template) {
        return inExpressions(template, expression -> outsideStrings(expression, (c, at, out) -> {
            out.append(c);
            if (c == '}' && at + 1 < expression.length() && expression.charAt(at + 1) == '}') {
                out.append(' ');
            }
            return at;
        }));
    }

    /**
     * {@code template} with each {@code {% raw %}...{% endraw %}} block, whose text Jinja writes as it is, replaced by a
     * mark that no rewrite touches, its text (trimmed as the tags' whitespace control asks; {@code trim_blocks} takes
     * the newline after the block, not the one after its opening tag) added to {@code texts}; {@link #withRawBlocksRestored} puts it back as a string literal, which Jinjava writes as
     * it is too (its own raw tag refused whitespace control, and the rewrites would have changed the text).
     */
    static String withRawBlocksSetAside(String template, List<String> texts) {
        return RAW_BLOCK.matcher(template).replaceAll(raw -> {
            String text = raw.group(3);
            text = raw.group(2).equals("-") ? text.stripLeading() : text;
            texts.add(raw.group(4).equals("-") ? text.stripTrailing() : text);
            // The tags' outer whitespace control travels in the mark: L trims before the block, R after it.
            return Matcher.quoteReplacement(RAW_MARK + (raw.group(1).isEmpty() ? "" : "L") + (texts.size() - 1)
                    + (raw.group(5).isEmpty() ? "" : "R") + RAW_MARK);
        });
    }

    /** {@code template} with the marks {@link #withRawBlocksSetAside} left replaced by their texts as output expressions. */
    static String withRawBlocksRestored(String template, List<String> texts) {
        return RAW_PLACE.matcher(template).replaceAll(mark -> {
            String literal = texts.get(Integer.parseInt(mark.group(2))).replace("\\", "\\\\").replace("'", "\\'");
            return Matcher.quoteReplacement("{{" + (mark.group(1).isEmpty() ? "" : "-") + " '" + literal + "' "
                    + (mark.group(3).isEmpty() ? "" : "-") + "}}");
        });
    }

    /** A raw block: its opening tag's whitespace control, its closing tag's, the text, and the newline trim_blocks takes after it. */
    private static final Pattern RAW_BLOCK = Pattern.compile(
            "\\{%(-?)\\s*raw\\s*(-?)%}(.*?)\\{%(-?)\\s*endraw\\s*(-?)%}\\n?", Pattern.DOTALL);
    /** Marks a raw block's place while the rewrites run: a character of Unicode's private use area, not in templates. */
    private static final String RAW_MARK = "\uE000";
    /** A raw block's mark: its trims before (L) and after (R) and its text's index. */
    private static final Pattern RAW_PLACE = Pattern.compile(RAW_MARK + "(L?)(\\d+)(R?)" + RAW_MARK);

    /**
     * {@code template} with each {@code {{ expression }}} written {@code {{ python_str((expression)) }}}, so that what it
     * prints is what Python's {@code str} would ({@link PythonContainers#str}: {@code True} rather than Jinjava's
     * {@code true}, a list the template built as {@code ['a', 1]} rather than {@code [a, 1]}). Whitespace control stays.
     */
    static String withOutputsAsPythonText(String template) {
        return inExpressions(template, "{{", expression -> {
            Matcher parts = OUTPUT.matcher(expression);
            return parts.matches() && !parts.group(2).isBlank()
                    ? parts.group(1) + " python_str((" + parts.group(2) + ")) " + parts.group(3) : expression;
        });
    }

    /** An output's inside: its whitespace control, its expression, the closing whitespace control. */
    private static final Pattern OUTPUT = Pattern.compile("([-+]?)\\s*(.*?)\\s*(-?)", Pattern.DOTALL);

    /**
     * {@code template} with each comment replaced by an expression that writes nothing, {@code {{ '' }}}, with the
     * comment's whitespace control ({@code {#-}, {@code -#}}) and the newline after it taken out as Jinja's
     * {@code trim_blocks} does. Jinjava drops comments before it trims, so that a {@code {%-} after a comment also
     * took the text before the comment ({@code description\n\n{# Args #}\n{%- if ...}} lost its blank line, in
     * ByteDance Seed-OSS's template); in Jinja a comment ends the text before it, as the empty expression does here.
     */
    static String withCommentsAsSeparators(String template) {
        return COMMENT.matcher(template).replaceAll(comment -> Matcher.quoteReplacement("{{" + comment.group(1) + " '' " + comment.group(2) + "}}"));
    }

    private static final Pattern COMMENT = Pattern.compile("\\{#(-?).*?(-?)#}\\n?", Pattern.DOTALL);

    /**
     * {@code template} with each loop that filters its items ({@code {% for k, v in d.items() if k != "return" %}},
     * as Mistral Nemo's template writes it) split in two: a loop that collects the items that pass, then the
     * original loop over those. Jinjava ignores the filter and went round every item; and in Jinja, {@code loop.index},
     * {@code loop.last} and {@code loop.length} count only the items that pass, which the second loop's do too.
     */
    static String withLoopFilters(String template) {
        int[] collected = {0};
        return FOR_TAG.matcher(template).replaceAll(loop -> {
            String targets = loop.group(2).strip();
            String rest = loop.group(3);
            int condition = topLevelWord(rest, "if");
            if (condition < 0 || topLevelWord(rest.substring(condition), "else") >= 0) {
                return Matcher.quoteReplacement(loop.group());
            }
            String items = "__panllama_items_" + collected[0]++;
            String item = targets.contains(",") ? "[" + targets + "]" : targets;
            return Matcher.quoteReplacement("{%" + loop.group(1) + " set " + items + " = [] %}"
                    + "{% for " + targets + " in " + rest.substring(0, condition).strip() + " %}"
                    + "{% if " + rest.substring(condition + 2).strip() + " %}{% do " + items + ".append(" + item + ") %}{% endif %}"
                    + "{% endfor %}"
                    + "{% for " + targets + " in " + items + " " + loop.group(4) + "%}");
        });
    }

    private static final Pattern FOR_TAG = Pattern.compile("\\{%([-+]?)\\s*for\\s+(.+?)\\s+in\\s+(.+?)\\s*([-+]?)%}", Pattern.DOTALL);

    /**
     * {@code template} with each loop's {@code else} branch, which Jinja writes when the loop went round no times,
     * moved after the loop as {@code {% if not (sequence) %}...{% endif %}}. Jinjava has no such branch: it wrote the
     * branch's text after every item instead, and nothing for an empty sequence. A loop over a {@code recursive}
     * sequence is left as it is.
     */
    static String withLoopElses(String template) {
        Matcher tags = BRANCH_TAG.matcher(template);
        Deque<LoopFrame> open = new ArrayDeque<>();
        List<Edit> edits = new ArrayList<>();
        while (tags.find()) {
            switch (tags.group(2)) {
                case "for" -> {
                    Matcher loop = LOOP_HEAD.matcher(tags.group(3));
                    open.push(new LoopFrame(true, loop.matches() && !loop.group(1).contains(" recursive") ? loop.group(1).strip() : null));
                }
                case "if" -> open.push(new LoopFrame(false, null));
                case "else" -> {
                    LoopFrame frame = open.peek();
                    if (frame != null && frame.isLoop && frame.sequence != null) {
                        frame.elseStart = tags.start();
                        frame.elseEnd = tags.end();
                        frame.elseRightTrim = tags.group(4);
                        frame.elseLeftTrim = tags.group(1);
                    }
                }
                default -> {
                    LoopFrame frame = open.poll();
                    if (frame != null && frame.isLoop && tags.group(2).equals("endfor") && frame.elseStart >= 0) {
                        edits.add(new Edit(frame.elseStart, frame.elseEnd,
                                "{%" + frame.elseLeftTrim + " endfor %}{% if not (" + frame.sequence + ") " + frame.elseRightTrim + "%}"));
                        edits.add(new Edit(tags.start(), tags.end(), "{%" + tags.group(1) + " endif " + tags.group(4) + "%}"));
                    }
                }
            }
        }
        // From the end backwards, so that each edit's place is still where it was found.
        edits.sort(Comparator.comparingInt(Edit::start).reversed());
        StringBuilder out = new StringBuilder(template);
        for (Edit edit : edits) {
            out.replace(edit.start(), edit.end(), edit.text());
        }
        return out.toString();
    }

    /** Text to put in place of {@code template[start, end)}. */
    private record Edit(int start, int end, String text) {
    }

    /** An open {@code for} or {@code if} block while {@link #withLoopElses} reads the template. */
    private static final class LoopFrame {
        final boolean isLoop;
        /** The loop's sequence expression, or null for a loop whose else branch is left alone. */
        final String sequence;
        int elseStart = -1;
        int elseEnd;
        String elseLeftTrim = "";
        String elseRightTrim = "";

        LoopFrame(boolean isLoop, String sequence) {
            this.isLoop = isLoop;
            this.sequence = sequence;
        }
    }

    private static final Pattern BRANCH_TAG = Pattern.compile("\\{%([-+]?)\\s*(for|endfor|if|endif|else)\\b(.*?)\\s*([-+]?)%}", Pattern.DOTALL);
    /** A loop tag's inside after {@code for}: its targets, {@code in}, and the sequence. */
    private static final Pattern LOOP_HEAD = Pattern.compile("\\s*.+?\\s+in\\s+(.+?)\\s*", Pattern.DOTALL);

    /**
     * {@code template} with a space on each side of a {@code +} or {@code -} between an operand and a number
     * ({@code ns.last+1} becomes {@code ns.last + 1}): Jinjava's lexer reads {@code +1} as a signed number and
     * refused the sum (Kimi K2 Thinking's template). A number's own exponent ({@code 1e-5}) is left as it is.
     */
    static String withSignsSpaced(String template) {
        return inExpressions(template, JinjavaDialect::signsSpaced);
    }

    private static String signsSpaced(String expression) {
        return outsideStrings(expression, (c, at, out) -> {
            if ((c == '+' || c == '-') && at + 1 < expression.length() && Character.isDigit(expression.charAt(at + 1))
                    && !out.isEmpty() && endsWithOperand(out)) {
                out.append(' ').append(c).append(' ');
            } else {
                out.append(c);
            }
            return at;
        });
    }

    /** Whether {@code out} ends with a name (not a keyword), a closing bracket or a whole number (not a number's exponent, {@code 1e}). */
    private static boolean endsWithOperand(StringBuilder out) {
        char last = out.charAt(out.length() - 1);
        if (last == ')' || last == ']') {
            return true;
        }
        int start = out.length();
        while (start > 0 && (Character.isLetterOrDigit(out.charAt(start - 1)) || out.charAt(start - 1) == '_')) {
            start--;
        }
        String word = out.substring(start);
        char end = out.charAt(out.length() - 1);
        return !word.isEmpty() && !KEYWORDS.contains(word) && (!Character.isDigit(word.charAt(0)) || end != 'e' && end != 'E');
    }

    private static final Set<String> KEYWORDS = Set.of("and", "or", "not", "in", "is", "if", "else");

    /**
     * {@code template} with each slice ({@code messages[::-1]}, {@code text[1:]}, {@code m[:ns.last + 1]}) written
     * as a call of {@link #slice} ({@code python_slice} in templates): Jinjava's parser takes only a slice of plain bounds and no step, and
     * refused the templates of Qwen 3 and Kimi K2 (a reversed list, a bound that is a sum).
     */
    static String withSlicesAsCalls(String template) {
        return inExpressions(template, JinjavaDialect::slicesAsCalls);
    }

    private static String slicesAsCalls(String expression) {
        return outsideStrings(expression, (c, at, out) -> {
            int close = c == '[' && !out.isEmpty() && isSubscripted(out.charAt(out.length() - 1)) ? closingBracket(expression, at) : -1;
            List<String> bounds = close < 0 ? List.of() : splitTopLevel(expression.substring(at + 1, close), ':');
            if (bounds.size() < 2 || bounds.size() > 3) {
                out.append(c);
                return at;
            }
            int start = startOfPrimary(out);
            String sequence = out.substring(start);
            out.setLength(start);
            out.append("python_slice(").append(sequence);
            for (int bound = 0; bound < 3; bound++) {
                String text = bound < bounds.size() ? bounds.get(bound).strip() : "";
                out.append(", ").append(text.isEmpty() ? "none" : slicesAsCalls(text));
            }
            out.append(')');
            return close;
        });
    }

    private static boolean isSubscripted(char previous) {
        return Character.isLetterOrDigit(previous) || previous == '_' || previous == ')' || previous == ']'
                || previous == '\'' || previous == '"';
    }

    /** Where the name, string, call or subscript chain that ends {@code out} starts ({@code a.b(c)[d]}, {@code 'abc'}). */
    private static int startOfPrimary(StringBuilder out) {
        int at = out.length();
        while (at > 0) {
            char c = out.charAt(at - 1);
            if (c == '\'' || c == '"') {
                return Math.max(0, out.lastIndexOf(String.valueOf(c), at - 2));
            } else if (c == ')' || c == ']') {
                at = openingBracket(out, at - 1);
            } else if (Character.isLetterOrDigit(c) || c == '_' || c == '.') {
                at--;
            } else {
                break;
            }
        }
        return at;
    }

    /**
     * {@code template} with each keyword argument of a call whose value is more than a name or a literal in
     * parentheses ({@code namespace(last=messages|length - 1)} becomes {@code namespace(last=(messages|length - 1))}):
     * Jinjava binds {@code =} tighter than a filter or an operator and read {@code (last=messages|length) - 1}, as
     * Qwen 3's template writes it. Macro and call tags, whose defaults are parameters rather than arguments, are left
     * as they are.
     */
    static String withNamedArgumentsGrouped(String template) {
        return inExpressions(template, expression -> DEFINES_PARAMETERS.matcher(expression).lookingAt()
                ? expression : namedArgumentsGrouped(expression));
    }

    private static final Pattern DEFINES_PARAMETERS = Pattern.compile("[-+]?\\s*(?:macro|call)\\b");

    private static String namedArgumentsGrouped(String expression) {
        Deque<Character> brackets = new ArrayDeque<>();
        return outsideStrings(expression, (c, at, out) -> {
            if (c == '(' || c == '[' || c == '{') {
                brackets.push(c);
            } else if ((c == ')' || c == ']' || c == '}') && !brackets.isEmpty()) {
                brackets.pop();
            } else if (Character.isJavaIdentifierStart(c) && Character.valueOf('(').equals(brackets.peek())
                    && lastNonSpace(out) != null && (lastNonSpace(out) == '(' || lastNonSpace(out) == ',')) {
                Matcher named = NAMED_ARGUMENT.matcher(expression).region(at, expression.length());
                if (named.lookingAt()) {
                    int end = endOfArgument(expression, named.end());
                    String value = expression.substring(named.end(), end);
                    String grouped = namedArgumentsGrouped(value);
                    out.append(named.group()).append(SIMPLE_VALUE.matcher(value).matches() ? grouped : "(" + grouped.strip() + ")");
                    return end - 1;
                }
            }
            out.append(c);
            return at;
        });
    }

    private static final Pattern NAMED_ARGUMENT = Pattern.compile("[A-Za-z_]\\w*\\s*=(?!=)");
    private static final Pattern SIMPLE_VALUE = Pattern.compile("\\s*(?:'[^']*'|\"[^\"]*\"|-?\\d+(?:\\.\\d+)?|[A-Za-z_][\\w.]*)\\s*");

    private static Character lastNonSpace(StringBuilder out) {
        for (int at = out.length() - 1; at >= 0; at--) {
            if (!Character.isWhitespace(out.charAt(at))) {
                return out.charAt(at);
            }
        }
        return null;
    }

    /** Where the argument that starts at {@code from} ends: the next comma or closing bracket at its own depth. */
    private static int endOfArgument(String expression, int from) {
        int depth = 0;
        for (int i = from; i < expression.length(); i++) {
            char c = expression.charAt(i);
            if (c == '\'' || c == '"') {
                i = endOfString(expression, i) - 1;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                if (depth-- == 0) {
                    return i;
                }
            } else if (c == ',' && depth == 0) {
                return i;
            }
        }
        return expression.length();
    }

    /**
     * {@code template} with each {@code not A == B} (any comparison, or membership: {@code in}, {@code not in})
     * in a tag written {@code not (A == B)}.
     * In Jinja, {@code not} binds looser than a comparison; Jinjava binds it tighter, so that Meta's Llama 3.1
     * template's {@code not message.tool_calls|length == 1} compared {@code false} with 1 and failed, and
     * Command R+'s {@code not param_name in required} asked whether {@code false} was in the list.
     * Only a {@code not} whose operand is a comparison with no parenthesis, {@code and} or {@code or} in it
     * is rewritten, so that the result means in Jinjava what the original means in Jinja.
     */
    static String withNotAroundComparisons(String template) {
        return TAG.matcher(template).replaceAll(tag -> Matcher.quoteReplacement(NOT_COMPARISON.matcher(tag.group()).replaceAll("not ($1)")));
    }

    private static final Pattern TAG = Pattern.compile("\\{%.*?%}", Pattern.DOTALL);
    /** A comparison's operand piece: a quoted string, or a character that is no parenthesis, quote or {@code %}, outside the words and/or. */
    private static final String ATOM = "(?:'[^']*'|\"[^\"]*\"|(?!\\b(?:and|or|not)\\b)[^()%'\"])";
    private static final Pattern NOT_COMPARISON = Pattern.compile("\\bnot\\s+(?!in\\b)(" + ATOM + "*?(?:==|!=|<=|>=|<|>|\\bin\\b|\\bnot\\s+in\\b)" + ATOM
            + "*?)(?=\\s*(?:\\band\\b|\\bor\\b|-?%}|\\)))");

    /**
     * {@code template} with Jinja's {@code loop.previtem} and {@code loop.nextitem}, the items before
     * and after the current one, which Jinjava's loops lack, written as the loop's sequence at the index
     * before or after ({@code none} at the ends, where Jinja's are undefined). Only in a loop over a
     * plain name ({@code {% for message in messages %}}, as Hermes's templates write it), whose index is
     * the sequence's; in any other loop they stay as they are, and are nothing.
     */
    static String withLoopNeighbours(String template) {
        Matcher tags = LOOP_TAG.matcher(template);
        StringBuilder out = new StringBuilder();
        ArrayDeque<String> sequences = new ArrayDeque<>();
        int from = 0;
        while (tags.find()) {
            out.append(neighboursIn(template.substring(from, tags.start()), sequences.peek()));
            out.append(tags.group());
            from = tags.end();
            if (tags.group(1).equals("endfor")) {
                sequences.poll();
            } else {
                Matcher plain = PLAIN_LOOP.matcher(tags.group(2));
                sequences.push(plain.matches() ? plain.group(1) : "");
            }
        }
        out.append(neighboursIn(template.substring(from), sequences.peek()));
        return out.toString();
    }

    private static String neighboursIn(String text, String sequence) {
        if (sequence == null || sequence.isEmpty()) {
            return text;
        }
        return text.replace("loop.previtem", "(" + sequence + "[loop.index0 - 1] if not loop.first else none)")
                .replace("loop.nextitem", "(" + sequence + "[loop.index0 + 1] if not loop.last else none)");
    }

    private static final Pattern LOOP_TAG = Pattern.compile("\\{%[-+]?\\s*(for|endfor)\\b(.*?)[-+]?%}", Pattern.DOTALL);
    /** The loop variable(s) and a sequence that is a plain (dotted) name, and nothing after it. */
    private static final Pattern PLAIN_LOOP = Pattern.compile("\\s*[\\w\\s,]+?\\s+in\\s+([\\w.]+)\\s*");

    /**
     * {@code template} as Jinja's {@code lstrip_blocks} reads it: the spaces and tabs between the start
     * of a line and a block tag or comment on it ({@code {%} or {@code {#}, not {@code {%+}) taken out.
     * Only there: text before a tag later on its line keeps its spaces.
     */
    static String withBlockIndentsStripped(String template) {
        return BLOCK_INDENT.matcher(template).replaceAll("");
    }

    private static final Pattern BLOCK_INDENT = Pattern.compile("(?m)^[ \\t]+(?=\\{[%#](?!\\+))");

    /**
     * Python's {@code sequence[start:stop:step]} of a list or a text, any bound null for none: what
     * {@link #withSlicesAsCalls} turns a slice into ({@link JinjaChatFormat#pythonSlice} for templates).
     */
    static Object slice(Object sequence, Object start, Object stop, Object step) {
        int length = sequence instanceof CharSequence text ? text.length()
                : sequence instanceof List<?> list ? list.size() : -1;
        if (length < 0) {
            throw new IllegalArgumentException("only a list or a text can be sliced, not " + sequence);
        }
        int by = step == null ? 1 : ((Number) step).intValue();
        if (by == 0) {
            throw new IllegalArgumentException("a slice's step cannot be zero");
        }
        int first = sliceBound(start, length, by > 0 ? 0 : length - 1, by);
        int last = sliceBound(stop, length, by > 0 ? length : -1, by);
        StringBuilder text = new StringBuilder();
        List<Object> items = new ArrayList<>();
        for (int at = first; by > 0 ? at < last : at > last; at += by) {
            if (sequence instanceof CharSequence chars) {
                text.append(chars.charAt(at));
            } else {
                items.add(((List<?>) sequence).get(at));
            }
        }
        return sequence instanceof CharSequence ? text.toString() : items;
    }

    /** A slice bound as Python clamps it: negative from the end, then within the sequence for the step's direction. */
    private static int sliceBound(Object bound, int length, int otherwise, int step) {
        if (bound == null) {
            return otherwise;
        }
        int at = ((Number) bound).intValue();
        if (at < 0) {
            at += length;
        }
        return step > 0 ? Math.clamp(at, 0, length) : Math.clamp(at, -1, length - 1);
    }

    /** What {@link #outsideStrings} does with a character of an expression outside its string literals. */
    @FunctionalInterface
    private interface CharacterRewrite {
        /** Writes what {@code c}, at {@code at}, becomes to {@code out}; returns the index of the last character used. */
        int rewrite(char c, int at, StringBuilder out);
    }

    /** {@code expression} through {@code rewrite} character by character, its string literals copied as they are. */
    private static String outsideStrings(String expression, CharacterRewrite rewrite) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < expression.length(); i++) {
            char c = expression.charAt(i);
            if (c == '\'' || c == '"') {
                int end = endOfString(expression, i);
                out.append(expression, i, end);
                i = end - 1;
            } else {
                i = rewrite.rewrite(c, i, out);
            }
        }
        return out.toString();
    }

    /**
     * {@code template} with each {@code {{ ... }}} and {@code {% ... %}}'s inside through {@code rewrite}, the text
     * between as it is. An expression ends at the first {@code }}} or {@code %}} outside its string literals and
     * dict literals, as Jinja's lexer reads it.
     */
    private static String inExpressions(String template, UnaryOperator<String> rewrite) {
        return inExpressions(template, null, rewrite);
    }

    /** As above, only for the expressions that open with {@code opener} ({@code {{} or {@code {%}), or for all where it is null. */
    private static String inExpressions(String template, String opener, UnaryOperator<String> rewrite) {
        StringBuilder out = new StringBuilder();
        int from = 0;
        while (true) {
            int open = nextExpression(template, from);
            if (open < 0) {
                return out.append(template, from, template.length()).toString();
            }
            String closing = template.charAt(open + 1) == '{' ? "}}" : "%}";
            int close = open + 2;
            int braces = 0;
            while (close < template.length() && !(braces == 0 && template.startsWith(closing, close))) {
                char c = template.charAt(close);
                braces += c == '{' ? 1 : c == '}' ? -1 : 0;
                close = c == '\'' || c == '"' ? endOfString(template, close) : close + 1;
            }
            String inside = template.substring(open + 2, Math.min(close, template.length()));
            boolean rewritten = opener == null || template.startsWith(opener, open);
            out.append(template, from, open + 2).append(rewritten ? rewrite.apply(inside) : inside);
            from = Math.min(close, template.length());
        }
    }

    private static int nextExpression(String template, int from) {
        int variable = template.indexOf("{{", from);
        int block = template.indexOf("{%", from);
        return variable < 0 ? block : block < 0 ? variable : Math.min(variable, block);
    }

    /** Where the word {@code word} stands first outside strings and brackets in {@code text}, or -1. */
    private static int topLevelWord(String text, String word) {
        return firstTopLevel(text, 0, i -> text.startsWith(word, i) && (i == 0 || Character.isWhitespace(text.charAt(i - 1)))
                && (i + word.length() == text.length() || Character.isWhitespace(text.charAt(i + word.length()))));
    }

    /** {@code text} cut at each {@code separator} outside strings and brackets. */
    private static List<String> splitTopLevel(String text, char separator) {
        List<String> parts = new ArrayList<>();
        int from = 0;
        for (int at; (at = firstTopLevel(text, from, i -> text.charAt(i) == separator)) >= 0; from = at + 1) {
            parts.add(text.substring(from, at));
        }
        parts.add(text.substring(from));
        return parts;
    }

    /** The first index from {@code from} outside string literals and brackets at which {@code test} holds, or -1. */
    private static int firstTopLevel(String text, int from, IntPredicate test) {
        int depth = 0;
        for (int i = from; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\'' || c == '"') {
                i = endOfString(text, i) - 1;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                depth--;
            } else if (depth == 0 && test.test(i)) {
                return i;
            }
        }
        return -1;
    }

    /** The index just past the string literal that opens at {@code at} (its quote, backslash escapes inside). */
    private static int endOfString(CharSequence text, int at) {
        char quote = text.charAt(at);
        for (int i = at + 1; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\\') {
                i++;
            } else if (c == quote) {
                return i + 1;
            }
        }
        return text.length();
    }

    /** The bracket that closes the one at {@code at}, or -1. */
    private static int closingBracket(String text, int at) {
        int depth = 0;
        for (int i = at; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\'' || c == '"') {
                i = endOfString(text, i) - 1;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if ((c == ')' || c == ']' || c == '}') && --depth == 0) {
                return i;
            }
        }
        return -1;
    }

    /** The bracket that opens the one that closes at {@code at} (strings inside not minded: a primary's subscripts rarely hold brackets in quotes). */
    private static int openingBracket(CharSequence text, int at) {
        int depth = 0;
        for (int i = at; i >= 0; i--) {
            char c = text.charAt(i);
            if (c == ')' || c == ']' || c == '}') {
                depth++;
            } else if ((c == '(' || c == '[' || c == '{') && --depth == 0) {
                return i;
            }
        }
        return 0;
    }
}
