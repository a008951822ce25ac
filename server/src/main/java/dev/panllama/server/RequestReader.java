package dev.panllama.server;

import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.chat.ChatFormat;
import dev.panllama.chat.Message;
import dev.panllama.chat.ReasoningSplit;
import dev.panllama.chat.Tool;
import dev.panllama.chat.ToolCall;
import dev.panllama.chat.ToolUse;
import dev.panllama.json.JsonWriter;
import dev.panllama.sampling.AdaptiveP;
import dev.panllama.sampling.Dry;
import dev.panllama.sampling.DynamicTemperature;
import dev.panllama.sampling.Mirostat;
import dev.panllama.sampling.ReasoningBudget;
import dev.panllama.sampling.SamplerOrder;
import dev.panllama.sampling.SamplingOptions;
import dev.panllama.sampling.TokenFilters;
import dev.panllama.structured.Grammar;
import dev.panllama.structured.JsonSchema;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Reads the bodies of {@code /v1/chat/completions} and {@code /v1/completions} into
 * {@link GenerationRequest}s: fields as OpenAI defines them, with llama.cpp's sampling extras
 * ({@code top_k}, {@code min_p}, {@code typical_p}, {@code top_n_sigma}, {@code xtc_probability},
 * {@code xtc_threshold}, {@code mirostat}, {@code mirostat_tau}, {@code mirostat_eta}, {@code dynatemp_range}, {@code dynatemp_exponent},
 * {@code dry_multiplier}, {@code dry_base}, {@code dry_allowed_length}, {@code dry_penalty_last_n},
 * {@code dry_sequence_breakers}, {@code repeat_penalty}, {@code repeat_last_n}, {@code n_predict}, {@code ignore_eos}) where they mean what panllama's {@link SamplingOptions} mean, logit biases
 * ({@link LogitBiasFields}), and {@code response_format} (JSON output, constrained), log probabilities
 * ({@code logprobs}, {@code top_logprobs}) and tools ({@link ToolFields}).
 * What the server cannot do ({@code echo}, {@code best_of}) is refused by name rather than ignored; {@code n} (several choices) is read
 * for OpenAI's chat and text completions, up to {@code --parallel}.
 */
final class RequestReader {

    private final LlamaModel model;
    private final ChatFormat format;
    private final String modelId;
    private final int promptLimit;
    private final int maxPromptTokens;
    /** The most choices ({@code n}) a request may ask for: one slot each. */
    private final int parallel;
    /** Requests that may wait besides the running ones: with {@link #parallel}, the most choices one request may make. */
    private final int maxQueuedRequests;
    private final ChatReasoning reasoning;
    private final boolean spmInfill;

    RequestReader(LlamaModel model, ChatFormat format, ServerOptions options) {
        this.model = model;
        this.format = format;
        this.modelId = options.modelId();
        this.maxPromptTokens = options.maxPromptTokens();
        this.parallel = options.parallel();
        this.maxQueuedRequests = options.maxQueuedRequests();
        this.reasoning = options.reasoning();
        this.spmInfill = options.spmInfill();
        // One position must stay free for the first generated token.
        int contextLimit = model.contextLength() - 1;
        this.promptLimit = maxPromptTokens > 0 ? Math.min(maxPromptTokens, contextLimit) : contextLimit;
    }

    /**
     * A chat request whose reply carries its reasoning apart where the template writes reasoning blocks
     * (OpenAI's chat completions, as llama-server's {@code reasoning_content}): as the request's
     * {@code reasoning_format} says, else as the server was started.
     */
    GenerationRequest chat(RequestFields body) {
        Optional<String> reasoningFormat = body.string("reasoning_format");
        boolean apart;
        try {
            apart = reasoningFormat.map(ChatReasoning::apart).orElse(reasoning.apart());
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(e.getMessage(), "reasoning_format");
        }
        return chat(body, Optional.of(apart));
    }

    /** Whether the chat template writes reasoning blocks, which a reply's reasoning can come apart from. */
    boolean writesReasoning() {
        return format.writesReasoning();
    }

    /** A chat request whose reply is one text as generated, a reasoning block and all (the APIs with no place for reasoning). */
    GenerationRequest chatAsText(RequestFields body) {
        return chat(body, Optional.empty());
    }

    /** {@code splitReasoning}: whether the reply's reasoning goes apart from its text; empty: the reply as generated. */
    private GenerationRequest chat(RequestFields body, Optional<Boolean> splitReasoning) {
        checkModel(body);
        refuseUnsupported(body);
        int logprobs = chatLogprobs(body);
        ToolUse tools = ToolFields.read(body);
        if (tools.mayCall() && body.string("grammar").filter(text -> !text.isEmpty()).isPresent()) {
            // A call is written in the model's own format, which the grammar would not let through.
            throw ApiException.invalid("'grammar' cannot be combined with 'tools' (unless 'tool_choice' is none), as llama-server refuses it.",
                    "grammar");
        }
        Conversation conversation = conversation(body, tools);
        String text = conversation.render(true);
        int[] prompt = model.tokenizer().encode(text, true, true);
        GenerationOptions options = withReasoningBudget(withRequiredCall(generationOptions(body), tools), body, conversation, text);
        ReasoningSplit.Start reasoning = splitReasoning.map(apart -> ReasoningSplit.at(text, format.writesReasoning(), apart))
                .orElse(ReasoningSplit.Start.NONE);
        return new GenerationRequest(checkedLength(prompt, options, "messages"), 0, options, body.bool("stream", false),
                includeUsage(body), logprobs, tools, body.bool("cache_prompt", true), reasoning, choices(body), slot(body));
    }

    /**
     * The prompt a chat request's messages and tools render to in the model's chat format, before it
     * is tokenized (llama-server's {@code /apply-template}).
     */
    String chatPrompt(RequestFields body) {
        checkModel(body);
        return conversation(body, ToolFields.read(body)).render(true);
    }

    /** A chat request's messages and the tools it offers, in the chat format given its template variables. */
    private Conversation conversation(RequestFields body, ToolUse tools) {
        return new Conversation(format.withTemplateVariables(templateVariables(body)), messages(body), tools.offered());
    }

    private record Conversation(ChatFormat format, List<Message> messages, List<Tool> tools) {
        /** {@code openAssistantTurn}: with the format's opening of the reply; a template's refusal is a 400. */
        String render(boolean openAssistantTurn) {
            try {
                return format.render(messages, tools, openAssistantTurn);
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid(e.getMessage(), "messages");
            }
        }
    }

    /**
     * {@code options} with the reasoning budget that llama-server gives a chat: the request's
     * {@code reasoning_budget_tokens} (or {@code thinking_budget_tokens}; -1 or left out: the server's) and
     * {@code reasoning_budget_message}, where the template writes {@code <think>} blocks. Like llama-server, the
     * budget starts counting at a block the template's opening of the reply opens ({@code prompt} past the
     * conversation rendered without it).
     */
    private GenerationOptions withReasoningBudget(GenerationOptions options, RequestFields body, Conversation conversation,
                                                  String prompt) {
        long asked = body.integer("reasoning_budget_tokens", -1, Integer.MAX_VALUE)
                .orElseGet(() -> body.integer("thinking_budget_tokens", -1, Integer.MAX_VALUE).orElse(-1L));
        int budget = asked == -1 ? reasoning.budget() : (int) asked;
        if (budget < 0 || !format.writesReasoning()) {
            return options;
        }
        String message = body.string("reasoning_budget_message").orElse(reasoning.budgetMessage());
        String opening = ChatFormat.replyOpening(prompt, conversation.render(false));
        return options.withReasoningBudget(ReasoningBudget.ofThinking(budget, message).openedWith(opening));
    }

    /**
     * A chat's {@code chat_template_kwargs} (llama-server's): variables its Jinja template is given, over those
     * the server was started with; {@code enable_thinking}, which llama-server reads itself, must be a boolean.
     * Then OpenAI's {@code reasoning_effort}, as llama-server takes it: {@code none} turns thinking off
     * ({@code enable_thinking} false), another level is the template's {@code reasoning_effort}.
     */
    private static Map<String, Object> templateVariables(RequestFields body) {
        Map<String, Object> variables = new LinkedHashMap<>();
        body.object("chat_template_kwargs").ifPresent(kwargs -> {
            kwargs.entries().forEach(entry -> variables.put(entry.getKey(), entry.getValue()));
            if (variables.containsKey("enable_thinking") && !(variables.get("enable_thinking") instanceof Boolean)) {
                throw RequestFields.wrongType(kwargs.path() + ".enable_thinking", "a boolean");
            }
        });
        body.string("reasoning_effort").filter(effort -> !effort.isEmpty()).ifPresent(effort -> {
            if (effort.equals("none")) {
                variables.put("enable_thinking", false);
                variables.remove("reasoning_effort");
            } else {
                variables.put("reasoning_effort", effort);
            }
        });
        return variables;
    }

    /** A chat's {@code logprobs} (true or false) and {@code top_logprobs} (0 to 20, only with logprobs). */
    private static int chatLogprobs(RequestFields body) {
        boolean wanted = body.bool("logprobs", false);
        Optional<Long> top = body.integer("top_logprobs", 0, TokenLogprobs.MAX_TOP);
        if (!wanted) {
            if (top.isPresent()) {
                throw ApiException.invalid("'top_logprobs' needs 'logprobs' set to true.", "top_logprobs");
            }
            return GenerationJob.NO_LOGPROBS;
        }
        return Math.toIntExact(top.orElse(0L));
    }

    /**
     * OpenAI's text completion of each of the body's prompts ({@code prompt} as an array of strings, or of arrays
     * of token ids: a request for each, the other fields the same), or of its one prompt.
     */
    List<GenerationRequest> completions(RequestFields body) {
        Object prompt = body.raw("prompt");
        if (!(prompt instanceof List<?> list) || list.size() < 2
                || !list.stream().allMatch(item -> item instanceof String || item instanceof List<?>)) {
            return textCompletions(body, Collections.singletonList(prompt));
        }
        int choices = choices(body);
        if ((long) list.size() * choices > parallel + maxQueuedRequests) {
            throw ApiException.invalid("'prompt' holds " + list.size() + " prompts of " + choices + " choices each: at most "
                    + (parallel + maxQueuedRequests) + " choices in all are taken at once (the server's --parallel and --max-queue).",
                    "prompt");
        }
        return textCompletions(body, list);
    }

    /** A text completion of the body's one prompt (llama-server's {@code /completion}, Ollama's generate). */
    GenerationRequest completion(RequestFields body) {
        return textCompletions(body, Collections.singletonList(body.raw("prompt"))).getFirst();
    }

    /** A text completion of each of {@code prompts} (the body's {@code prompt}, or the items of its array), the body read once. */
    private List<GenerationRequest> textCompletions(RequestFields body, List<?> prompts) {
        checkModel(body);
        refuseUnsupported(body);
        // A text completion's logprobs is the number of most likely tokens to report (0: the chosen one's only).
        int logprobs = Math.toIntExact(body.integer("logprobs", 0, TokenLogprobs.MAX_TOP).orElse((long) GenerationJob.NO_LOGPROBS));
        if (body.bool("echo", false)) {
            throw ApiException.unsupported("'echo' is not supported.", "echo");
        }
        if (!body.string("suffix").orElse("").isEmpty()) {
            throw ApiException.unsupported("'suffix' is not supported.", "suffix");
        }
        if (body.integer("best_of", 1, Integer.MAX_VALUE).orElse(1L) != 1) {
            throw ApiException.unsupported("Only 'best_of' = 1 is supported.", "best_of");
        }
        GenerationOptions options = generationOptions(body);
        boolean stream = body.bool("stream", false);
        boolean includeUsage = includeUsage(body);
        boolean reusePrompt = body.bool("cache_prompt", true);
        int choices = choices(body);
        int slot = slot(body);
        List<GenerationRequest> requests = new ArrayList<>();
        for (Object text : prompts) {
            int[] prompt = checkedLength(completionPrompt(text), options, "prompt");
            int promptLength = logprobs == GenerationJob.NO_LOGPROBS ? 0 : promptCharacters(text, prompt);
            requests.add(new GenerationRequest(prompt, promptLength, options, stream, includeUsage, logprobs, ToolUse.NONE, reusePrompt,
                    ReasoningSplit.Start.NONE, choices, slot));
        }
        return requests;
    }

    /**
     * llama-server's {@code /infill}: a completion of the fill-in-the-middle prompt {@link InfillPrompt} lays out,
     * with a text completion's fields.
     */
    GenerationRequest infill(RequestFields body) {
        checkModel(body);
        refuseUnsupported(body);
        if (choices(body) != 1) {
            throw ApiException.unsupported("Only 'n' = 1 is supported by /infill.", "n");
        }
        GenerationOptions options = generationOptions(body);
        int[] prompt = checkedLength(InfillPrompt.of(model.tokenizer(), body, model.contextLength(), spmInfill), options, "input_prefix");
        return new GenerationRequest(prompt, 0, options, body.bool("stream", false), includeUsage(body), GenerationJob.NO_LOGPROBS,
                ToolUse.NONE, body.bool("cache_prompt", true), ReasoningSplit.Start.NONE, 1, slot(body));
    }

    /** llama-server's {@code id_slot}: the slot the request runs in (it waits for it), -1 (the default) for any. */
    private int slot(RequestFields body) {
        long slot = body.integer("id_slot", Integer.MIN_VALUE, Integer.MAX_VALUE).orElse(-1L);
        if (slot < -1 || slot >= parallel) {
            throw ApiException.invalid("'id_slot' must be -1 (any slot) or a slot from 0 to " + (parallel - 1) + ".", "id_slot");
        }
        return (int) slot;
    }

    /** OpenAI's {@code n}: 1 to {@code --parallel} replies, each generated in a slot of its own (llama-server's bounds). */
    private int choices(RequestFields body) {
        long choices = body.integer("n", 1, Integer.MAX_VALUE).orElse(1L);
        if (choices > parallel) {
            throw ApiException.invalid("'n' must be at most " + parallel + " (the server's --parallel): each choice is generated in a slot"
                    + " of its own.", "n");
        }
        return (int) choices;
    }

    /** Refuses (404) a request whose {@code model} is not the one served; one that leaves it out asks for that one. */
    void checkModel(RequestFields body) {
        String requested = body.string("model").orElse(modelId);
        if (!requested.equals(modelId)) {
            throw ApiException.modelNotFound(requested, modelId);
        }
    }

    private static void refuseUnsupported(RequestFields body) {
        if (!body.array("functions").orElse(List.of()).isEmpty()) {
            throw ApiException.unsupported("'functions' (deprecated by OpenAI) is not supported; use 'tools'.", "functions");
        }
    }

    /** {@code options} for a reply that must be a call of one of {@code tools}: sampled under the call's schema. */
    private static GenerationOptions withRequiredCall(GenerationOptions options, ToolUse tools) {
        JsonSchema call;
        try {
            call = tools.requiredCall();
        } catch (IllegalArgumentException unsupported) {
            throw ApiException.invalid("Invalid 'tools': " + unsupported.getMessage() + ".", "tools");
        }
        if (call == null) {
            return options;
        }
        if (options.structure() != null) {
            throw ApiException.invalid("A reply cannot both be a required tool call and follow 'response_format' or 'grammar'.", "tool_choice");
        }
        return options.withJsonSchema(call);
    }

    /**
     * Structured output, one of: {@code response_format} {@code json_object} (any JSON object, or the
     * object of its {@code schema}, as llama-server reads it) or {@code json_schema} (its {@code schema});
     * llama-server's {@code json_schema} (a schema); or llama-server's {@code grammar} (GBNF). Each is
     * sampled under its constraint, so that the reply parses and validates, or follows the grammar.
     */
    private GenerationOptions structured(RequestFields body, GenerationOptions options) {
        Optional<RequestFields> format = body.object("response_format").filter(f -> !f.requiredString("type").equals("text"));
        Optional<String> grammar = body.string("grammar").filter(text -> !text.isEmpty());
        Optional<Object> schema = Optional.ofNullable(body.raw("json_schema"));
        if ((format.isPresent() ? 1 : 0) + (grammar.isPresent() ? 1 : 0) + (schema.isPresent() ? 1 : 0) > 1) {
            throw ApiException.invalid("Give one of 'response_format', 'json_schema' and 'grammar', not several.",
                    grammar.isPresent() ? "grammar" : "json_schema");
        }
        if (grammar.isPresent()) {
            try {
                return options.withStructure(Grammar.parse(grammar.get()).withTokensOf(model.tokenizer()));
            } catch (IllegalArgumentException invalid) {
                throw ApiException.invalid("Invalid 'grammar': " + invalid.getMessage() + ".", "grammar");
            }
        }
        if (schema.isPresent()) {
            return options.withJsonSchema(schema(schema.get(), "json_schema"));
        }
        if (format.isEmpty()) {
            return options;
        }
        String type = format.get().requiredString("type");
        return switch (type) {
            case "json_object" -> {
                Object objectSchema = format.get().raw("schema");
                yield objectSchema == null ? options.withJsonObject() : options.withJsonSchema(schema(objectSchema, "response_format.schema"));
            }
            case "json_schema" -> {
                RequestFields jsonSchema = format.get().object("json_schema")
                        .orElseThrow(() -> ApiException.missing("response_format.json_schema"));
                yield options.withJsonSchema(schema(jsonSchema.raw("schema"), "response_format.json_schema.schema"));
            }
            default -> throw ApiException.invalid("Invalid value for 'response_format.type': '" + type
                    + "'; it must be text, json_object or json_schema.", "response_format");
        };
    }

    /** The JSON schema {@code field} holds, compiled; a 400 naming the field when it is not an object or uses what is not supported. */
    private static JsonSchema schema(Object value, String field) {
        if (!(value instanceof Map<?, ?>)) {
            throw ApiException.invalid("'" + field + "' must be a JSON schema object.", field);
        }
        try {
            return JsonSchema.compile(JsonWriter.write(value));
        } catch (IllegalArgumentException unsupported) {
            throw ApiException.invalid("Invalid '" + field + "': " + unsupported.getMessage(), field);
        }
    }

    private static boolean includeUsage(RequestFields body) {
        return body.object("stream_options").map(options -> options.bool("include_usage", false)).orElse(false);
    }

    private static List<Message> messages(RequestFields body) {
        if (!body.has("messages")) {
            throw ApiException.missing("messages");
        }
        List<RequestFields> given = body.objects("messages");
        if (given.isEmpty()) {
            throw ApiException.invalid("'messages' must hold at least one message.", "messages");
        }
        List<Message> messages = new ArrayList<>();
        for (RequestFields message : given) {
            String param = message.path();
            String role = message.requiredString("role");
            String ourRole = switch (role) {
                case "system", "developer" -> "system";
                case "user", "assistant", "tool" -> role;
                case "function" -> throw ApiException.unsupported("Messages of role 'function' (deprecated by OpenAI) are not supported;"
                        + " use role 'tool'.", param + ".role");
                default -> throw ApiException.invalid("Invalid value for '" + param + ".role': '" + role
                        + "'; it must be system, developer, user, assistant or tool.", param + ".role");
            };
            if (message.has("tool_calls") && !ourRole.equals("assistant")) {
                throw ApiException.invalid("Only assistant messages may have 'tool_calls'.", param + ".tool_calls");
            }
            List<ToolCall> calls = ToolFields.calls(message);
            // An assistant's turn that calls tools may leave its content out, as OpenAI's own replies do.
            String content = !calls.isEmpty() && message.raw("content") == null ? "" : content(message, param + ".content");
            String toolCallId = null;
            if (ourRole.equals("tool")) {
                toolCallId = message.string("tool_call_id").orElseThrow(() -> ApiException.missing(param + ".tool_call_id"));
            }
            // An earlier reply's reasoning, given back as llama-server takes it, for the templates that read it.
            String reasoning = message.string("reasoning_content").orElse("");
            messages.add(new Message(ourRole, content, calls, toolCallId, reasoning));
        }
        return messages;
    }

    /** A message's text: a string, or an array of text parts. */
    private static String content(RequestFields message, String param) {
        Object content = message.raw("content");
        if (content instanceof String text) {
            return text;
        }
        if (content instanceof List<?> parts) {
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < parts.size(); i++) {
                if (!(parts.get(i) instanceof Map<?, ?> map)) {
                    throw RequestFields.wrongType(param, "a string or an array of content parts");
                }
                RequestFields fields = RequestFields.of(map, param + "[" + i + "]");
                String type = fields.requiredString("type");
                if (!type.equals("text")) {
                    throw ApiException.unsupported("Content parts of type '" + type + "' are not supported; only text is.", param);
                }
                text.append(fields.requiredString("text"));
            }
            return text.toString();
        }
        if (content == null) {
            throw ApiException.missing(param);
        }
        throw RequestFields.wrongType(param, "a string or an array of content parts");
    }

    /** The prompt of a completion: a string, an array of one string, or an array of token ids. */
    private int[] completionPrompt(Object prompt) {
        if (prompt == null) {
            throw ApiException.missing("prompt");
        }
        prompt = unwrapped(prompt);
        int[] tokens;
        if (prompt instanceof String text) {
            tokens = model.tokenizer().encode(text, true, true);
        } else if (prompt instanceof List<?> list && list.stream().allMatch(Number.class::isInstance)) {
            tokens = RequestFields.tokenIds(list, model.vocabulary().size(), "prompt");
        } else if (prompt instanceof List<?>) {
            throw ApiException.unsupported("The prompts of an array must all be strings or arrays of token ids.", "prompt");
        } else {
            throw RequestFields.wrongType("prompt", "a string or an array of token ids");
        }
        if (tokens.length == 0) {
            throw ApiException.invalid("'prompt' is empty.", "prompt");
        }
        return tokens;
    }

    /** A prompt given as an array of one string is that string. */
    private static Object unwrapped(Object prompt) {
        return prompt instanceof List<?> list && list.size() == 1 && list.getFirst() instanceof String only ? only : prompt;
    }

    /**
     * The prompt's length in characters (Unicode code points, as OpenAI's Python clients count them),
     * where a text completion's token offsets start: the prompt's text, or its token ids decoded.
     */
    private int promptCharacters(Object prompt, int[] ids) {
        String text = unwrapped(prompt) instanceof String string ? string : model.tokenizer().decode(ids);
        return text.codePointCount(0, text.length());
    }

    /** The prompt, when it and the tokens asked for fit the context (shared by the requests generated together). */
    private int[] checkedLength(int[] prompt, GenerationOptions options, String param) {
        if (prompt.length > promptLimit) {
            String message = maxPromptTokens > 0 && maxPromptTokens < model.contextLength() - 1
                    ? "The prompt has " + prompt.length + " tokens, more than this server accepts (" + maxPromptTokens + ")."
                    : "This model's maximum context length is " + model.contextLength() + " tokens. However, your prompt has "
                            + prompt.length + " tokens; it must leave room for at least one token of reply.";
            throw new ApiException(400, "invalid_request_error", message, param, "context_length_exceeded");
        }
        if (options.maxTokens() > 0 && (long) prompt.length + options.maxTokens() > model.contextLength()) {
            throw new ApiException(400, "invalid_request_error", "This model's maximum context length is " + model.contextLength()
                    + " tokens. However, you requested " + ((long) prompt.length + options.maxTokens()) + " tokens (" + prompt.length
                    + " in the prompt, " + options.maxTokens() + " in the completion). Please reduce the prompt or the completion's length.",
                    param, "context_length_exceeded");
        }
        return prompt;
    }

    private GenerationOptions generationOptions(RequestFields body) {
        long seed = body.integer("seed", Long.MIN_VALUE, Long.MAX_VALUE).orElseGet(System::nanoTime);
        SamplingOptions defaults = SamplingOptions.defaults(seed);
        double topP = body.number("top_p", 0, 1).orElse((double) defaults.topP());
        if (topP == 0) {
            throw ApiException.invalid("'top_p' must be more than 0.", "top_p");
        }
        double repeatPenalty = body.number("repeat_penalty", 0, Float.MAX_VALUE).orElse((double) defaults.repeatPenalty());
        if (repeatPenalty == 0) {
            throw ApiException.invalid("'repeat_penalty' must be more than 0.", "repeat_penalty");
        }
        SamplingOptions sampling = new SamplingOptions(
                body.number("temperature", 0, 2, defaults.temperature()),
                body.integer("top_k", 0, Integer.MAX_VALUE, defaults.topK()),
                (float) topP,
                body.number("min_p", 0, 1, defaults.minP()),
                (float) repeatPenalty,
                body.integer("repeat_last_n", -1, Integer.MAX_VALUE, defaults.repeatLastN()),
                body.number("frequency_penalty", -2, 2, defaults.frequencyPenalty()),
                body.number("presence_penalty", -2, 2, defaults.presencePenalty()),
                seed,
                LogitBiasFields.read(body, model.tokenizer()),
                tokenFilters(body),
                mirostat(body),
                dynamicTemperature(body),
                dry(body),
                samplerOrder(body),
                new AdaptiveP(body.number("adaptive_target", -Float.MAX_VALUE, Float.MAX_VALUE, AdaptiveP.OFF.target()),
                        body.number("adaptive_decay", -Float.MAX_VALUE, Float.MAX_VALUE, AdaptiveP.OFF.decay())));
        return structured(body, new GenerationOptions(maxTokens(body), stopStrings(body), sampling));
    }

    /**
     * llama-server's {@code typical_p}, {@code top_n_sigma}, {@code xtc_probability} and {@code xtc_threshold}.
     */
    private static TokenFilters tokenFilters(RequestFields body) {
        TokenFilters off = TokenFilters.NONE;
        return new TokenFilters(
                body.number("typical_p", 0, 1, off.typicalP()),
                body.number("top_n_sigma", -Float.MAX_VALUE, Float.MAX_VALUE, off.topNSigma()),
                body.number("xtc_probability", 0, 1, off.xtcProbability()),
                body.number("xtc_threshold", 0, 1, off.xtcThreshold()));
    }

    /**
     * llama-server's {@code dry_multiplier}, {@code dry_base}, {@code dry_allowed_length}, {@code dry_penalty_last_n}
     * (-1: the whole context) and {@code dry_sequence_breakers} (texts; llama.cpp's defaults when left out).
     */
    private static Dry dry(RequestFields body) {
        Dry off = Dry.OFF;
        List<String> breakers = off.sequenceBreakers();
        Optional<List<?>> given = body.array("dry_sequence_breakers");
        if (given.isPresent()) {
            List<String> texts = new ArrayList<>();
            for (int i = 0; i < given.get().size(); i++) {
                if (!(given.get().get(i) instanceof String text)) {
                    throw ApiException.invalid("'dry_sequence_breakers' must be an array of strings.", "dry_sequence_breakers[" + i + "]");
                }
                texts.add(text);
            }
            breakers = texts;
        }
        return new Dry(
                body.number("dry_multiplier", 0, Float.MAX_VALUE, off.multiplier()),
                body.number("dry_base", -Float.MAX_VALUE, Float.MAX_VALUE, off.base()),
                body.integer("dry_allowed_length", 0, Integer.MAX_VALUE, off.allowedLength()),
                body.integer("dry_penalty_last_n", -1, Integer.MAX_VALUE, off.penaltyLastN()),
                breakers);
    }

    /** llama-server's {@code samplers}: the samplers that run, in order, as an array of names or a string of letters. */
    private static SamplerOrder samplerOrder(RequestFields body) {
        Object given = body.raw("samplers");
        try {
            if (given == null) {
                return SamplerOrder.DEFAULT;
            }
            if (given instanceof String letters) {
                return SamplerOrder.ofLetters(letters);
            }
            if (given instanceof List<?> names) {
                List<String> texts = new ArrayList<>();
                for (int i = 0; i < names.size(); i++) {
                    if (!(names.get(i) instanceof String name)) {
                        throw ApiException.invalid("'samplers' must be an array of sampler names or a string of their letters.",
                                "samplers[" + i + "]");
                    }
                    texts.add(name);
                }
                return SamplerOrder.ofNames(texts);
            }
        } catch (IllegalArgumentException unknown) {
            throw ApiException.invalid("Invalid 'samplers': " + unknown.getMessage() + ".", "samplers");
        }
        throw ApiException.invalid("'samplers' must be an array of sampler names or a string of their letters.", "samplers");
    }

    /** llama-server's {@code dynatemp_range} and {@code dynatemp_exponent}. */
    private static DynamicTemperature dynamicTemperature(RequestFields body) {
        DynamicTemperature off = DynamicTemperature.OFF;
        return new DynamicTemperature(
                body.number("dynatemp_range", 0, Float.MAX_VALUE, off.range()),
                body.number("dynatemp_exponent", -Float.MAX_VALUE, Float.MAX_VALUE, off.exponent()));
    }

    /** llama-server's {@code mirostat} (0, 1 or 2), {@code mirostat_tau} and {@code mirostat_eta}. */
    private static Mirostat mirostat(RequestFields body) {
        Mirostat off = Mirostat.OFF;
        return new Mirostat(
                body.integer("mirostat", 0, 2, off.version()),
                body.number("mirostat_tau", -Float.MAX_VALUE, Float.MAX_VALUE, off.tau()),
                body.number("mirostat_eta", -Float.MAX_VALUE, Float.MAX_VALUE, off.eta()));
    }

    /** {@code max_completion_tokens}, else {@code max_tokens}, else llama.cpp's {@code n_predict}; -1 for no limit. */
    private static int maxTokens(RequestFields body) {
        for (String name : List.of("max_completion_tokens", "max_tokens")) {
            if (body.has(name)) {
                return Math.toIntExact(body.integer(name, 1, Integer.MAX_VALUE).orElseThrow());
            }
        }
        return Math.toIntExact(body.integer("n_predict", -1, Integer.MAX_VALUE).orElse(-1L));
    }

    private static List<String> stopStrings(RequestFields body) {
        Object stop = body.raw("stop");
        List<String> stops = new ArrayList<>();
        if (stop instanceof String one) {
            stops.add(one);
        } else if (stop instanceof List<?> list) {
            for (Object item : list) {
                if (!(item instanceof String s)) {
                    throw RequestFields.wrongType("stop", "a string or an array of strings");
                }
                stops.add(s);
            }
        } else if (stop != null) {
            throw RequestFields.wrongType("stop", "a string or an array of strings");
        }
        if (stops.stream().anyMatch(String::isEmpty)) {
            throw ApiException.invalid("'stop' strings cannot be empty.", "stop");
        }
        return stops;
    }
}
