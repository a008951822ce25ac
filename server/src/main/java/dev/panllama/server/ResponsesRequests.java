package dev.panllama.server;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A {@code POST /v1/responses} body (OpenAI's Responses API) rewritten as the {@code /v1/chat/completions}
 * body that asks for the same, so that one {@link RequestReader} checks and reads both, as llama-server
 * does: {@code instructions} become a system message and {@code input} (a text, or a list of items) the
 * conversation; {@code function_call} items become an assistant's tool calls (joined to the assistant
 * message before them) and {@code function_call_output} items tool messages; {@code tools} and
 * {@code tool_choice} (flat in this API) take the chat's nested shape; {@code text.format} becomes
 * {@code response_format}, {@code max_output_tokens} {@code max_tokens}, and
 * {@code include: ["message.output_text.logprobs"]} or {@code top_logprobs} the chat's log probabilities.
 * Sampling fields, OpenAI's and llama.cpp's, pass as they are. {@code reasoning} items in the input are
 * left out (the model does not reason aloud, and Llama's templates have no place for them).
 * <p>
 * Nothing is stored: {@code previous_response_id} and {@code conversation} are refused, as are what the
 * server cannot do ({@code background}, hosted tools, images and files, {@code truncation: auto}), each by
 * name. A reasoning effort is the chat's {@code reasoning_effort}, as llama-server passes it.
 */
final class ResponsesRequests {

    /** The log probabilities a Responses request asks for with {@code include}. */
    static final String LOGPROBS = "message.output_text.logprobs";

    /** Fields of this API that the chat body does not take as they are: read here, or refused. */
    private static final Set<String> OWN = Set.of("input", "instructions", "text", "max_output_tokens", "include", "top_logprobs",
            "tools", "tool_choice", "previous_response_id", "conversation", "store", "metadata", "user", "truncation", "reasoning",
            "background", "service_tier", "prompt", "prompt_cache_key", "prompt_cache_retention", "safety_identifier",
            "stream_options", "max_tool_calls", "logprobs", "messages");

    private ResponsesRequests() {
    }

    /** {@code body} as a chat completion's. */
    static RequestFields chat(RequestFields body) {
        refuseUnsupported(body);
        ChatBody chat = new ChatBody(body, messages(body), tools(body), toolChoice(body));
        body.integer("max_output_tokens", 1, Integer.MAX_VALUE).ifPresent(limit -> chat.put("max_tokens", limit));
        Object format = responseFormat(body);
        if (format != null) {
            chat.put("response_format", format);
        }
        body.object("reasoning").flatMap(reasoning -> reasoning.string("effort")).ifPresent(effort -> chat.put("reasoning_effort", effort));
        if (wantsLogprobs(body)) {
            chat.put("logprobs", true);
            body.integer("top_logprobs", 0, TokenLogprobs.MAX_TOP).ifPresent(top -> chat.put("top_logprobs", top));
        }
        return chat.withOthersOf(body, OWN);
    }

    /** Whether the reply's text comes with its tokens' log probabilities. */
    static boolean wantsLogprobs(RequestFields body) {
        List<?> include = body.array("include").orElse(List.of());
        for (int i = 0; i < include.size(); i++) {
            if (!(include.get(i) instanceof String)) {
                throw RequestFields.wrongType("include[" + i + "]", "a string");
            }
        }
        // Other inclusions ask for outputs of hosted tools or reasoning, which a reply here never has.
        return include.contains(LOGPROBS) || body.has("top_logprobs");
    }

    private static void refuseUnsupported(RequestFields body) {
        if (body.has("messages")) {
            throw ApiException.invalid("The Responses API takes 'input', not 'messages' (that is /v1/chat/completions').", "messages");
        }
        if (body.string("previous_response_id").filter(id -> !id.isEmpty()).isPresent()) {
            throw ApiException.unsupported("'previous_response_id' is not supported: this server stores no responses;"
                    + " send the whole conversation as 'input'.", "previous_response_id");
        }
        if (body.has("conversation")) {
            throw ApiException.unsupported("'conversation' is not supported: this server stores no conversations;"
                    + " send the whole conversation as 'input'.", "conversation");
        }
        if (body.bool("background", false)) {
            throw ApiException.unsupported("'background' is not supported: responses are generated while the request waits.", "background");
        }
        if (body.has("prompt")) {
            throw ApiException.unsupported("'prompt' (a stored prompt template) is not supported; send 'instructions' and 'input'.", "prompt");
        }
        String truncation = body.string("truncation").orElse("disabled");
        if (!truncation.equals("disabled")) {
            throw ApiException.unsupported("Only 'truncation' = disabled is supported: an input longer than the context is refused,"
                    + " not cut.", "truncation");
        }
    }

    /** The conversation: {@code instructions} first, then {@code input}'s items. */
    private static List<Map<String, Object>> messages(RequestFields body) {
        List<Map<String, Object>> messages = new ArrayList<>();
        body.string("instructions").ifPresent(instructions -> messages.add(ChatBody.message("system", instructions)));
        Object input = body.raw("input");
        if (input == null) {
            throw ApiException.missing("input");
        }
        if (input instanceof String text) {
            messages.add(ChatBody.message("user", text));
            return messages;
        }
        if (!(input instanceof List<?> items)) {
            throw RequestFields.wrongType("input", "a string or an array of input items");
        }
        for (RequestFields item : RequestFields.objectsOf(items, "input")) {
            String param = item.path();
            String type = item.string("type").orElse("message");
            switch (type) {
                case "message" -> message(messages, item, param);
                case "function_call" -> call(messages, item, param);
                case "function_call_output" -> messages.add(callOutput(item, param));
                case "reasoning" -> reasoning(messages, item, param);
                case "item_reference" -> throw ApiException.unsupported("Items of type 'item_reference' are not supported: this server"
                        + " stores no items; send the item itself.", param + ".type");
                default -> throw ApiException.unsupported("Input items of type '" + type + "' are not supported; only message,"
                        + " function_call, function_call_output and reasoning are.", param + ".type");
            }
        }
        if (messages.isEmpty()) {
            throw ApiException.invalid("'input' must hold at least one item.", "input");
        }
        return messages;
    }

    /**
     * A message item: its role, and its text (a string, or text parts). An assistant's text after its reasoning
     * item joins the turn that reasoning began, as llama-server joins them.
     */
    private static void message(List<Map<String, Object>> messages, RequestFields item, String param) {
        String role = item.string("role").orElseThrow(() -> ApiException.missing(param + ".role"));
        if (!Set.of("user", "system", "developer", "assistant").contains(role)) {
            throw ApiException.invalid("Invalid value for '" + param + ".role': '" + role
                    + "'; it must be user, system, developer or assistant.", param + ".role");
        }
        String text = text(item.raw("content"), param + ".content");
        Map<String, Object> previous = messages.isEmpty() ? null : messages.getLast();
        if (role.equals("assistant") && previous != null && "assistant".equals(previous.get("role")) && "".equals(previous.get("content"))
                && !previous.containsKey("tool_calls")) {
            previous.put("content", text);
        } else {
            messages.add(ChatBody.message(role, text));
        }
    }

    /**
     * A reasoning item: the reasoning of the assistant's turn just before it, else of a turn it begins. Its text
     * is its {@code reasoning_text} content, as llama-server reads it; an item with only a summary or encrypted
     * content (another model's) has none a template could show.
     */
    private static void reasoning(List<Map<String, Object>> messages, RequestFields item, String param) {
        StringBuilder text = new StringBuilder();
        for (RequestFields part : item.objects("content")) {
            text.append(part.string("text").orElseThrow(() -> ApiException.missing(part.path() + ".text")));
        }
        if (text.isEmpty()) {
            return;
        }
        Map<String, Object> previous = messages.isEmpty() ? null : messages.getLast();
        if (previous == null || !"assistant".equals(previous.get("role"))) {
            previous = ChatBody.message("assistant", "");
            messages.add(previous);
        }
        previous.put("reasoning_content", text.toString());
    }

    /** A message's text: a string, or {@code input_text} / {@code output_text} parts (a refusal's text too). */
    private static String text(Object content, String param) {
        if (content instanceof String text) {
            return text;
        }
        if (!(content instanceof List<?> parts)) {
            throw content == null ? ApiException.missing(param) : RequestFields.wrongType(param, "a string or an array of content parts");
        }
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < parts.size(); i++) {
            String partParam = param + "[" + i + "]";
            if (!(parts.get(i) instanceof Map<?, ?> map)) {
                throw RequestFields.wrongType(partParam, "an object");
            }
            RequestFields part = RequestFields.of(map, partParam);
            String type = part.string("type").orElseThrow(() -> ApiException.missing(partParam + ".type"));
            switch (type) {
                case "input_text", "output_text" -> text.append(part.string("text").orElseThrow(() -> ApiException.missing(partParam + ".text")));
                case "refusal" -> text.append(part.string("refusal").orElseThrow(() -> ApiException.missing(partParam + ".refusal")));
                default -> throw ApiException.unsupported("Content parts of type '" + type + "' are not supported: the model reads text only.",
                        partParam + ".type");
            }
        }
        return text.toString();
    }

    /** A call the assistant made: joined to the assistant's message just before it, else a message of its own. */
    private static void call(List<Map<String, Object>> messages, RequestFields item, String param) {
        Map<String, Object> function = new LinkedHashMap<>();
        function.put("name", item.string("name").orElseThrow(() -> ApiException.missing(param + ".name")));
        function.put("arguments", item.string("arguments").orElseThrow(() -> ApiException.missing(param + ".arguments")));
        Map<String, Object> call = new LinkedHashMap<>();
        call.put("id", item.string("call_id").orElseThrow(() -> ApiException.missing(param + ".call_id")));
        call.put("type", "function");
        call.put("function", function);
        Map<String, Object> previous = messages.isEmpty() ? null : messages.getLast();
        if (previous == null || !"assistant".equals(previous.get("role"))) {
            previous = ChatBody.message("assistant", "");
            messages.add(previous);
        }
        @SuppressWarnings("unchecked")
        List<Object> calls = (List<Object>) previous.computeIfAbsent("tool_calls", key -> new ArrayList<>());
        calls.add(call);
    }

    /** A tool's result: a tool message answering its call. */
    private static Map<String, Object> callOutput(RequestFields item, String param) {
        Map<String, Object> message = ChatBody.message("tool", text(item.raw("output"), param + ".output"));
        message.put("tool_call_id", item.string("call_id").orElseThrow(() -> ApiException.missing(param + ".call_id")));
        return message;
    }

    /** Function tools, flat here ({@code {"type": "function", "name": ...}}), in the chat's nested shape. */
    private static List<Object> tools(RequestFields body) {
        List<Object> tools = new ArrayList<>();
        for (RequestFields tool : body.objects("tools")) {
            String param = tool.path();
            String type = tool.requiredString("type");
            if (!type.equals("function")) {
                throw ApiException.unsupported("Tools of type '" + type + "' are not supported; only functions are.", param + ".type");
            }
            Map<String, Object> function = new LinkedHashMap<>();
            function.put("name", tool.string("name").orElseThrow(() -> ApiException.missing(param + ".name")));
            tool.string("description").ifPresent(description -> function.put("description", description));
            if (tool.has("parameters")) {
                function.put("parameters", tool.raw("parameters"));
            }
            function.put("strict", tool.bool("strict", true));
            tools.add(Map.of("type", "function", "function", function));
        }
        return tools;
    }

    /** {@code tool_choice}: a word as it is, a function ({@code {"type": "function", "name": ...}}) in the chat's shape. */
    private static Object toolChoice(RequestFields body) {
        Object choice = body.raw("tool_choice");
        if (!(choice instanceof Map<?, ?> map)) {
            return choice;
        }
        RequestFields named = RequestFields.of(map, "tool_choice");
        String type = named.string("type").orElseThrow(() -> ApiException.missing("tool_choice.type"));
        if (!type.equals("function")) {
            throw ApiException.unsupported("'tool_choice' of type '" + type + "' is not supported; name a function, or give none,"
                    + " auto or required.", "tool_choice.type");
        }
        String name = named.string("name").orElseThrow(() -> ApiException.missing("tool_choice.name"));
        return Map.of("type", "function", "function", Map.of("name", name));
    }

    /** {@code text.format} as the chat's {@code response_format}; null for plain text. */
    private static Object responseFormat(RequestFields body) {
        RequestFields format = body.object("text").flatMap(text -> text.object("format")).orElse(null);
        if (format == null) {
            return null;
        }
        String type = format.string("type").orElseThrow(() -> ApiException.missing("text.format.type"));
        return switch (type) {
            case "text" -> null;
            case "json_object" -> Map.of("type", "json_object");
            case "json_schema" -> {
                Map<String, Object> schema = new LinkedHashMap<>();
                schema.put("name", format.string("name").orElse("response"));
                schema.put("schema", format.raw("schema"));
                if (format.raw("schema") == null) {
                    throw ApiException.missing("text.format.schema");
                }
                yield Map.of("type", "json_schema", "json_schema", schema);
            }
            default -> throw ApiException.invalid("Invalid value for 'text.format.type': '" + type
                    + "'; it must be text, json_object or json_schema.", "text.format.type");
        };
    }
}
