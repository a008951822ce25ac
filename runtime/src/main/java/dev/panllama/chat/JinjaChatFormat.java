package dev.panllama.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.FatalTemplateErrorsException;
import com.hubspot.jinjava.interpret.InterpretException;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELResolver;
import jinjava.javax.el.ExpressionFactory;

import java.io.IOException;
import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A chat template in Jinja, as Hugging Face tokenizers and GGUF files ({@code tokenizer.chat_template})
 * carry them, rendered with Jinjava. Sandboxed: a template can read no file (every include or import
 * fails) and reach no Java class (Jinjava refuses {@code getClass} and reflection), and its output and
 * recursion are bounded.
 */
public final class JinjaChatFormat implements ChatFormat {

    private static final long MAX_OUTPUT_CHARS = 8L << 20;
    private static final int MAX_MACRO_DEPTH = 64;

    private final String template;
    /** The template as Jinjava is given it, to mean what the original means in Jinja. */
    private final String renderedTemplate;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinjava;
    /** Whether the template lays out tools and tool calls itself (Llama 3.1+'s do); else {@link ToolCallFormat#inline} does. */
    private final boolean knowsTools;
    /**
     * Whether the template writes a system message. One that does not (Gemma's, Mistral's first ones refuse
     * it) gets the system text at the start of the first turn after it, as llama.cpp gives it.
     */
    private final boolean takesSystemRole;
    /** How the template takes a message: as most do, or as the family llama.cpp reshapes messages for. */
    private final MessageShape shape;
    /** What the template is given besides the conversation (llama.cpp's chat template kwargs). */
    private final Map<String, Object> variables;

    public JinjaChatFormat(String template, String bosToken, String eosToken) {
        this.template = template;
        this.shape = MessageShape.of(template);
        // Jinja drops one newline at the template's end (keep_trailing_newline is off by default).
        this.renderedTemplate = JinjavaDialect.forJinjava(
                template.endsWith("\n") ? template.substring(0, template.length() - 1) : template);
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.knowsTools = template.contains("tool_calls");
        // Jinja's whitespace rules as Hugging Face renders chat templates: '{{-' trims as '{%-' does,
        // blocks are trimmed and left-stripped (lstrip_blocks, by JinjavaDialect: Jinjava's own strips the
        // spaces before a tag in the middle of a line too). (Jinjava's "natural operator precedence" is not
        // taken: it makes 'not x is defined' mean '(not x) is defined'; see JinjavaDialect.)
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withMaxOutputSize(MAX_OUTPUT_CHARS)
                .withMaxRenderDepth(20)
                // What an expression writes is text, never a template again: Jinjava's default rendered the
                // '{{ ... }}' in a user's message (a code snippet, or an attempt to reach the template's context).
                .withNestedInterpretationEnabled(false)
                // A macro may call itself, as in Python (Kimi K3's writes a schema as JSON so), to a bounded depth.
                .withEnableRecursiveMacroCalls(true)
                .withMaxMacroRecursionDepth(MAX_MACRO_DEPTH)
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
        ExpressionFactory expressions = JinjaAddition.expressionFactory();
        this.jinjava = new Jinjava(config) {
            @Override
            public ExpressionFactory getExpressionFactory() {
                return expressions;
            }
        };
        jinjava.setResourceLocator((name, encoding, interpreter) -> {
            throw new IOException("chat templates may not read files (" + name + ")");
        });
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                JinjaChatFormat.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now",
                JinjaChatFormat.class, "strftimeNow", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "python_slice",
                JinjaChatFormat.class, "pythonSlice", Object.class, Object.class, Object.class, Object.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "python_str",
                JinjaChatFormat.class, "pythonStr", Object.class));
        // Python's Jinja, which the models' templates were written for, where Jinjava answers otherwise or not
        // at all (and PythonMethods, above, for strings' and dicts' methods).
        jinjava.getGlobalContext().registerFilter(new PythonJsonFilter());
        jinjava.getGlobalContext().registerFilter(new PythonTrimFilter());
        jinjava.getGlobalContext().registerFilter(new ItemsFilter());
        jinjava.getGlobalContext().registerExpTest(new PythonIterableTest());
        jinjava.getGlobalContext().registerFilter(new PythonIndentFilter());
        jinjava.getGlobalContext().registerTag(new FilterBlockTag());
        jinjava.getGlobalContext().registerTag(new GenerationTag());
        this.takesSystemRole = readsSystemMessages();
        // llama.cpp's defaults: an earlier reply's reasoning stays where the template can keep it (--reasoning-preserve),
        // and a template that can think is asked to.
        this.variables = Map.of(ReasoningSwitches.PRESERVE, true, ENABLE_THINKING, canThink());
    }

    private static final String ENABLE_THINKING = "enable_thinking";

    private JinjaChatFormat(JinjaChatFormat format, Map<String, Object> variables) {
        this.template = format.template;
        this.renderedTemplate = format.renderedTemplate;
        this.bosToken = format.bosToken;
        this.eosToken = format.eosToken;
        this.jinjava = format.jinjava;
        this.knowsTools = format.knowsTools;
        this.takesSystemRole = format.takesSystemRole;
        this.shape = format.shape;
        this.variables = variables;
    }

    /**
     * This template, also given {@code variables} (llama.cpp's {@code chat_template_kwargs}, such as
     * {@code enable_thinking}) over those it was given before; as in llama.cpp they may replace what the
     * template is given otherwise, but for {@code add_generation_prompt}, which is the caller's.
     */
    @Override
    public JinjaChatFormat withTemplateVariables(Map<String, ?> variables) {
        if (variables.isEmpty()) {
            return this;
        }
        Map<String, Object> merged = new LinkedHashMap<>(this.variables);
        variables.forEach((name, value) -> merged.put(name, PythonContainers.of(value)));
        return new JinjaChatFormat(this, Collections.unmodifiableMap(merged));
    }

    @Override
    public boolean writesReasoning() {
        return ReasoningSplit.thinks(template);
    }

    @Override
    public String render(List<Message> messages, List<Tool> tools, boolean openAssistantTurn) {
        List<Message> laidOut = knowsTools ? messages : ToolCallFormat.inline(messages, tools, "tool");
        List<Map<String, Object>> turns = new ArrayList<>();
        for (Message message : takesSystemRole ? laidOut : systemInFirstTurn(laidOut)) {
            turns.add(shape.turn(message));
        }
        return renderTurns(turns, tools, openAssistantTurn, variables);
    }

    /**
     * Whether the template reads a system message's text, asked as llama.cpp asks it: a system and a user
     * message rendered, the system text looked at or not. A refusal counts as not (llama.cpp stops at it;
     * Jinjava renders on past it, so what it read after would mislead).
     */
    private boolean readsSystemMessages() {
        SystemTurnProbe system = new SystemTurnProbe();
        try {
            renderTurns(List.of(system, PythonContainers.of(shape.turn(Message.user("User message")))), List.of(), true, Map.of());
        } catch (IllegalArgumentException refused) {
            return false;
        }
        return system.contentRead;
    }

    /**
     * Whether the template can think, so that llama.cpp gives it {@code enable_thinking} true (else false): it
     * writes {@code <think>} blocks, or it opens the reply otherwise with thinking on than off. (llama.cpp tells
     * it by analysing the template's renders for a reasoning block; these two signs find it in the pinned tree's
     * templates alike.)
     */
    private boolean canThink() {
        if (ReasoningSplit.thinks(template)) {
            return true;
        }
        try {
            String thinking = afterQuestion(Map.of(ENABLE_THINKING, true));
            return thinking != null && !thinking.equals(afterQuestion(Map.of(ENABLE_THINKING, false)));
        } catch (IllegalArgumentException refused) {
            return false;
        }
    }

    /** What the template writes after a user's question, to open the reply, given {@code variables}; null where it writes no question. */
    private String afterQuestion(Map<String, Object> variables) {
        String question = "What is the question?";
        String rendered = renderTurns(List.of(shape.turn(Message.user(question))), List.of(), true, variables);
        int at = rendered.lastIndexOf(question);
        return at < 0 ? null : rendered.substring(at + question.length());
    }

    /** A system message that notices its text being read. */
    private static final class SystemTurnProbe extends PythonContainers.Dict {
        private boolean contentRead;

        SystemTurnProbe() {
            put("role", "system");
            put("content", "System message");
        }

        @Override
        public Object get(Object key) {
            contentRead |= "content".equals(key);
            return super.get(key);
        }
    }

    /** The system message's text joined to the next turn's by a line break (or left out, alone), as llama.cpp does. */
    private static List<Message> systemInFirstTurn(List<Message> messages) {
        if (messages.isEmpty() || !messages.getFirst().role().equals("system")) {
            return messages;
        }
        List<Message> merged = new ArrayList<>(messages.subList(1, messages.size()));
        if (!merged.isEmpty()) {
            Message next = merged.getFirst();
            merged.set(0, new Message(next.role(), messages.getFirst().content() + "\n" + next.content(), next.toolCalls(), next.toolCallId(),
                    next.reasoning()));
        }
        return merged;
    }

    private String renderTurns(List<?> turns, List<Tool> tools, boolean openAssistantTurn, Map<String, Object> variables) {
        Map<String, Object> context = new HashMap<>();
        context.put("messages", PythonContainers.of(turns));
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        // Today's date, as llama.cpp gives every template (Llama 3.1's prints date_string, else "26 Jul 2024").
        context.put("date_string", strftimeNow("%d %b %Y"));
        context.put("datetime", strftimeNow("%b %d %Y"));
        if (knowsTools && !tools.isEmpty()) {
            context.put("tools", PythonContainers.of(tools.stream().map(ToolCallFormat::openAiShape).toList()));
        }
        context.putAll(variables);
        ReasoningSwitches.spell(context);
        context.put("add_generation_prompt", openAssistantTurn);
        String rendered;
        try {
            rendered = jinjava.render(renderedTemplate, context);
        } catch (InterpretException e) {
            throw templateFailure(e);
        }
        // The tokenizer adds the beginning-of-text token itself; a template that writes it would double it.
        return !bosToken.isEmpty() && rendered.startsWith(bosToken) ? rendered.substring(bosToken.length()) : rendered;
    }

    @Override
    public String name() {
        return "jinja";
    }

    public String template() {
        return template;
    }

    /** Jinjava's own resolver (read-only: a template cannot change what it is given), after {@link PythonMethods}. */
    private static ELResolver pythonMethodsFirst() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        return resolver;
    }

    /** {@code raise_exception(message)} in a template: the template refuses the conversation. */
    public static String raiseException(String message) {
        throw new TemplateFailure("the chat template refused the conversation: " + message);
    }

    /**
     * What a template did wrong, said by panllama's own code it called ({@code raise_exception}, {@code +}):
     * Jinjava keeps it under its own errors, and its message ("Error invoking function") would lose the
     * template's.
     */
    static final class TemplateFailure extends IllegalArgumentException {
        TemplateFailure(String message) {
            super(message);
        }
    }

    /** The first failure of panllama's own in {@code e}'s errors, else {@code e}'s message, as one exception. */
    private static IllegalArgumentException templateFailure(InterpretException e) {
        if (e instanceof FatalTemplateErrorsException fatal) {
            for (TemplateError error : fatal.getErrors()) {
                for (Throwable cause = error.getException(); cause != null; cause = cause.getCause()) {
                    if (cause instanceof TemplateFailure failure) {
                        return new IllegalArgumentException(failure.getMessage(), e);
                    }
                }
            }
        }
        return new IllegalArgumentException("the model's chat template failed: " + e.getMessage(), e);
    }

    /** {@code sequence[start:stop:step]} in a template, as {@link JinjavaDialect} writes a slice for Jinjava. */
    public static Object pythonSlice(Object sequence, Object start, Object stop, Object step) {
        return JinjavaDialect.slice(sequence, start, stop, step);
    }

    /** What {@code {{ value }}} prints, as Python's {@code str} would, where {@link JinjavaDialect} has it so. */
    public static String pythonStr(Object value) {
        return PythonContainers.str(value);
    }

    /** {@code strftime_now(format)}: today's date, for templates that print it (Llama 3.1+). */
    public static String strftimeNow(String format) {
        String pattern = format.replace("%d", "dd").replace("%b", "MMM").replace("%B", "MMMM")
                .replace("%Y", "yyyy").replace("%m", "MM");
        return LocalDate.now().format(DateTimeFormatter.ofPattern(pattern, Locale.ROOT));
    }
}
