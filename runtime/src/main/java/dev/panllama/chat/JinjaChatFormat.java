package dev.panllama.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.InterpretException;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELResolver;

import java.io.IOException;
import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A chat template in Jinja, as Hugging Face tokenizers and GGUF files ({@code tokenizer.chat_template})
 * carry them, rendered with Jinjava. Sandboxed: a template can read no file (every include or import
 * fails) and reach no Java class (Jinjava refuses {@code getClass} and reflection), and its output and
 * recursion are bounded.
 */
public final class JinjaChatFormat implements ChatFormat {

    private static final long MAX_OUTPUT_CHARS = 8L << 20;

    private final String template;
    /** The template as Jinjava is given it, to mean what the original means in Jinja. */
    private final String renderedTemplate;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinjava;
    /** Whether the template lays out tools and tool calls itself (Llama 3.1+'s do); else {@link ToolCallFormat#inline} does. */
    private final boolean knowsTools;

    public JinjaChatFormat(String template, String bosToken, String eosToken) {
        this.template = template;
        // Jinja drops one newline at the template's end (keep_trailing_newline is off by default).
        this.renderedTemplate = withLoopNeighbours(withNotAroundComparisons(withBlockIndentsStripped(
                template.endsWith("\n") ? template.substring(0, template.length() - 1) : template)));
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.knowsTools = template.contains("tool_calls");
        // Jinja's whitespace rules as Hugging Face renders chat templates: '{{-' trims as '{%-' does,
        // blocks are trimmed and left-stripped (lstrip_blocks, by withBlockIndentsStripped: Jinjava's own
        // strips the spaces before a tag in the middle of a line too). (Jinjava's "natural operator
        // precedence" is not taken: it makes 'not x is defined' mean '(not x) is defined'; see
        // withNotAroundComparisons.)
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withMaxOutputSize(MAX_OUTPUT_CHARS)
                .withMaxRenderDepth(20)
                .withFailOnUnknownTokens(false)
                .withTrimBlocks(true)
                .withLstripBlocks(false)
                .withElResolver(pythonMethodsFirst())
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withIterateOverMapKeys(true)
                        .build())
                .build();
        this.jinjava = new Jinjava(config);
        jinjava.setResourceLocator((name, encoding, interpreter) -> {
            throw new IOException("chat templates may not read files (" + name + ")");
        });
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                JinjaChatFormat.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now",
                JinjaChatFormat.class, "strftimeNow", String.class));
        // Python's Jinja, which the models' templates were written for, where Jinjava answers otherwise or not
        // at all (and PythonMethods, above, for strings' and dicts' methods).
        jinjava.getGlobalContext().registerFilter(new PythonJsonFilter());
        jinjava.getGlobalContext().registerFilter(new PythonTrimFilter());
        jinjava.getGlobalContext().registerFilter(new ItemsFilter());
        jinjava.getGlobalContext().registerExpTest(new PythonIterableTest());
        jinjava.getGlobalContext().registerTag(new FilterBlockTag());
    }

    @Override
    public String render(List<Message> messages, List<Tool> tools, boolean openAssistantTurn) {
        List<Map<String, Object>> turns = new ArrayList<>();
        for (Message message : knowsTools ? messages : ToolCallFormat.inline(messages, tools, "tool")) {
            turns.add(turn(message));
        }
        Map<String, Object> context = new HashMap<>();
        context.put("messages", turns);
        context.put("add_generation_prompt", openAssistantTurn);
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        // Today's date, as llama.cpp gives every template (Llama 3.1's prints date_string, else "26 Jul 2024").
        context.put("date_string", strftimeNow("%d %b %Y"));
        context.put("datetime", strftimeNow("%b %d %Y"));
        if (knowsTools && !tools.isEmpty()) {
            context.put("tools", tools.stream().map(ToolCallFormat::openAiShape).toList());
        }
        String rendered;
        try {
            rendered = jinjava.render(renderedTemplate, context);
        } catch (InterpretException e) {
            throw new IllegalArgumentException("the model's chat template failed: " + e.getMessage(), e);
        }
        // The tokenizer adds the beginning-of-text token itself; a template that writes it would double it.
        return !bosToken.isEmpty() && rendered.startsWith(bosToken) ? rendered.substring(bosToken.length()) : rendered;
    }

    /** A message as Hugging Face templates take it: OpenAI's shape, a call's arguments as an object. */
    private static Map<String, Object> turn(Message message) {
        Map<String, Object> turn = new LinkedHashMap<>();
        turn.put("role", message.role());
        turn.put("content", message.content());
        if (message.callsTools()) {
            List<Map<String, Object>> calls = new ArrayList<>();
            for (ToolCall call : message.toolCalls()) {
                Map<String, Object> function = new LinkedHashMap<>();
                function.put("name", call.name());
                function.put("arguments", new ArgumentsObject(call.argumentValues()));
                Map<String, Object> shape = new LinkedHashMap<>();
                shape.put("id", call.id());
                shape.put("type", "function");
                shape.put("function", function);
                calls.add(shape);
            }
            turn.put("tool_calls", calls);
        }
        if (message.toolCallId() != null) {
            turn.put("tool_call_id", message.toolCallId());
        }
        return turn;
    }

    /**
     * A call's arguments as templates take them: an object ({@code arguments|tojson}, {@code .items()}),
     * which printed as it is ({@code {{ tool_call.arguments }}}, where a template expects OpenAI's text,
     * as functionary's do) is its JSON, as llama.cpp writes it, rather than Java's {@code {city=Paris}}.
     */
    private static final class ArgumentsObject extends LinkedHashMap<String, Object> {
        ArgumentsObject(Map<String, Object> arguments) {
            super(arguments);
        }

        @Override
        public String toString() {
            return PythonJsonFilter.dumps(this, null, ", ", ": ", false, false);
        }
    }

    @Override
    public String name() {
        return "jinja";
    }

    public String template() {
        return template;
    }

    /**
     * {@code template} with each {@code not A == B} (any comparison) in a tag written {@code not (A == B)}.
     * In Jinja, {@code not} binds looser than a comparison; Jinjava binds it tighter, so that Meta's Llama 3.1
     * template's {@code not message.tool_calls|length == 1} compared {@code false} with 1 and failed.
     * Only a {@code not} whose operand is a comparison with no parenthesis, {@code and} or {@code or} in it
     * is rewritten, so that the result means in Jinjava what the original means in Jinja.
     */
    static String withNotAroundComparisons(String template) {
        Matcher tags = TAG.matcher(template);
        StringBuilder out = new StringBuilder();
        while (tags.find()) {
            tags.appendReplacement(out, Matcher.quoteReplacement(NOT_COMPARISON.matcher(tags.group()).replaceAll("not ($1)")));
        }
        tags.appendTail(out);
        return out.toString();
    }

    /** Jinjava's own resolver (read-only: a template cannot change what it is given), after {@link PythonMethods}. */
    private static ELResolver pythonMethodsFirst() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        return resolver;
    }

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
    private static final Pattern TAG = Pattern.compile("\\{%.*?%}", Pattern.DOTALL);
    /** A comparison's operand piece: a quoted string, or a character that is no parenthesis, quote or {@code %}, outside the words and/or. */
    private static final String ATOM = "(?:'[^']*'|\"[^\"]*\"|(?!\\b(?:and|or|not)\\b)[^()%'\"])";
    private static final Pattern NOT_COMPARISON = Pattern.compile("\\bnot\\s+(?!in\\b)(" + ATOM + "*?(?:==|!=|<=|>=|<|>)" + ATOM
            + "*?)(?=\\s*(?:\\band\\b|\\bor\\b|-?%}|\\)))");

    /** {@code raise_exception(message)} in a template: the template refuses the conversation. */
    public static String raiseException(String message) {
        throw new IllegalArgumentException("the chat template refused the conversation: " + message);
    }

    /** {@code strftime_now(format)}: today's date, for templates that print it (Llama 3.1+). */
    public static String strftimeNow(String format) {
        String pattern = format.replace("%d", "dd").replace("%b", "MMM").replace("%B", "MMMM")
                .replace("%Y", "yyyy").replace("%m", "MM");
        return LocalDate.now().format(DateTimeFormatter.ofPattern(pattern, Locale.ROOT));
    }
}
