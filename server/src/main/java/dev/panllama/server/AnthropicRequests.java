package dev.panllama.server;

import dev.panllama.json.JsonWriter;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A {@code POST /v1/messages} body (Anthropic's Messages API) rewritten as the {@code /v1/chat/completions}
 * body that asks for the same, so that one {@link RequestReader} checks and reads both, as llama-server
 * does: {@code system} (a text, or text blocks) becomes a system message; each message's content blocks
 * become the chat's turns: {@code text} blocks its text, an assistant's {@code tool_use} blocks its tool
 * calls (their {@code input} objects as arguments' JSON text), and a user's {@code tool_result} blocks
 * tool messages, ahead of the user's own text (Anthropic puts the results first). {@code tools}
 * ({@code name}, {@code description}, {@code input_schema}) and {@code tool_choice} ({@code auto},
 * {@code any}, {@code tool}, {@code none}) take the chat's shape, {@code stop_sequences} becomes
 * {@code stop}; {@code max_tokens} is required, as Anthropic requires it. Sampling fields pass as they are;
 * {@code cache_control} marks are passed over (a prompt's cached start is reused without them). An assistant's
 * {@code thinking} blocks are its reasoning, given back to the template; {@code thinking} enabled bounds the
 * reply's reasoning block by its {@code budget_tokens} (10000 left out), as llama-server does. Images,
 * documents and server tools are refused by name.
 */
final class AnthropicRequests {

    /** Fields of this API that the chat body does not take as they are: read here, or refused. */
    private static final Set<String> OWN = Set.of("system", "messages", "tools", "tool_choice", "stop_sequences", "max_tokens",
            "metadata", "thinking", "service_tier", "container", "mcp_servers", "context_management", "stream_options");

    private AnthropicRequests() {
    }

    /** {@code body} as a chat completion's; {@code counting} a request's tokens, it needs no {@code max_tokens}. */
    static RequestFields chat(RequestFields body, boolean counting) {
        refuseUnsupported(body);
        ChatBody chat = new ChatBody(body, messages(body), tools(body), toolChoice(body));
        if (!counting) {
            chat.put("max_tokens", body.integer("max_tokens", 1, Integer.MAX_VALUE).orElseThrow(() -> ApiException.missing("max_tokens")));
        }
        body.object("thinking").filter(thinking -> thinking.string("type").orElse("").equals("enabled"))
                .ifPresent(thinking -> chat.put("thinking_budget_tokens", thinking.integer("budget_tokens", 0, Integer.MAX_VALUE).orElse(10_000L)));
        body.array("stop_sequences").ifPresent(stops -> {
            for (int i = 0; i < stops.size(); i++) {
                if (!(stops.get(i) instanceof String)) {
                    throw RequestFields.wrongType("stop_sequences[" + i + "]", "a string");
                }
            }
            chat.put("stop", stops);
        });
        return chat.withOthersOf(body, OWN);
    }

    private static void refuseUnsupported(RequestFields body) {
        // A reasoning block comes as a thinking block where the chat template writes one, asked or not, as in llama-server.
        body.object("thinking").flatMap(thinking -> thinking.string("type")).filter(type -> !type.equals("disabled") && !type.equals("enabled"))
                .ifPresent(type -> {
                    throw ApiException.invalid("'thinking.type' must be enabled or disabled, not '" + type + "'.", "thinking.type");
                });
        for (String field : List.of("container", "mcp_servers")) {
            if (body.has(field)) {
                throw ApiException.unsupported("'" + field + "' is not supported: this server runs no tools of its own.", field);
            }
        }
    }

    /** The conversation: {@code system} first, then each message's blocks as the chat's turns. */
    private static List<Map<String, Object>> messages(RequestFields body) {
        List<Map<String, Object>> messages = new ArrayList<>();
        Object system = body.raw("system");
        if (system != null) {
            messages.add(ChatBody.message("system", text(system, "system")));
        }
        if (!body.has("messages")) {
            throw ApiException.missing("messages");
        }
        List<RequestFields> given = body.objects("messages");
        if (given.isEmpty()) {
            throw ApiException.invalid("'messages' must hold at least one message.", "messages");
        }
        for (RequestFields message : given) {
            String param = message.path();
            String role = message.requiredString("role");
            switch (role) {
                case "user" -> userTurns(messages, message.raw("content"), param + ".content");
                case "assistant" -> messages.add(assistantTurn(message.raw("content"), param + ".content"));
                default -> throw ApiException.invalid("Invalid value for '" + param + ".role': '" + role + "'; it must be user or assistant.",
                        param + ".role");
            }
        }
        return messages;
    }

    /** A user's turn: its tool results as tool messages, then its text (when it has any, or nothing else). */
    private static void userTurns(List<Map<String, Object>> messages, Object content, String param) {
        StringBuilder text = new StringBuilder();
        boolean results = false;
        for (Block block : blocks(content, param)) {
            switch (block.type()) {
                case "text" -> text.append(block.fields().requiredString("text"));
                case "tool_result" -> {
                    RequestFields result = block.fields();
                    Map<String, Object> tool = ChatBody.message("tool", result.raw("content") == null ? ""
                            : text(result.raw("content"), block.param() + ".content"));
                    tool.put("tool_call_id", result.string("tool_use_id").orElseThrow(() -> ApiException.missing(block.param() + ".tool_use_id")));
                    messages.add(tool);
                    results = true;
                }
                default -> throw unsupportedBlock(block);
            }
        }
        if (!text.isEmpty() || !results) {
            messages.add(ChatBody.message("user", text.toString()));
        }
    }

    /** An assistant's turn: its text, its {@code tool_use} blocks as tool calls and its {@code thinking} blocks as its reasoning. */
    private static Map<String, Object> assistantTurn(Object content, String param) {
        StringBuilder text = new StringBuilder();
        StringBuilder reasoning = new StringBuilder();
        List<Object> calls = new ArrayList<>();
        for (Block block : blocks(content, param)) {
            switch (block.type()) {
                case "text" -> text.append(block.fields().requiredString("text"));
                case "tool_use" -> {
                    RequestFields use = block.fields();
                    Object input = use.raw("input");
                    if (input != null && !(input instanceof Map<?, ?>)) {
                        throw RequestFields.wrongType(block.param() + ".input", "an object");
                    }
                    Map<String, Object> function = new LinkedHashMap<>();
                    function.put("name", use.string("name").orElseThrow(() -> ApiException.missing(block.param() + ".name")));
                    function.put("arguments", JsonWriter.write(input == null ? Map.of() : input));
                    Map<String, Object> call = new LinkedHashMap<>();
                    call.put("id", use.string("id").orElseThrow(() -> ApiException.missing(block.param() + ".id")));
                    call.put("type", "function");
                    call.put("function", function);
                    calls.add(call);
                }
                case "thinking" -> reasoning.append(block.fields().string("thinking").orElse(""));
                case "redacted_thinking" -> {
                    // Another model's encrypted reasoning: nothing a template could show.
                }
                default -> throw unsupportedBlock(block);
            }
        }
        Map<String, Object> message = ChatBody.message("assistant", text.toString());
        if (!calls.isEmpty()) {
            message.put("tool_calls", calls);
        }
        if (!reasoning.isEmpty()) {
            message.put("reasoning_content", reasoning.toString());
        }
        return message;
    }

    /** A content block: its type, its fields and where it stands in the request. */
    private record Block(String type, RequestFields fields, String param) {
    }

    /** A message's content: a text (one text block), or blocks. */
    private static List<Block> blocks(Object content, String param) {
        if (content instanceof String text) {
            return List.of(new Block("text", RequestFields.of(Map.of("text", text)), param));
        }
        if (!(content instanceof List<?> list)) {
            throw content == null ? ApiException.missing(param) : RequestFields.wrongType(param, "a string or an array of content blocks");
        }
        List<Block> blocks = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String blockParam = param + "[" + i + "]";
            if (!(list.get(i) instanceof Map<?, ?> map)) {
                throw RequestFields.wrongType(blockParam, "an object");
            }
            RequestFields block = RequestFields.of(map, blockParam);
            blocks.add(new Block(block.string("type").orElseThrow(() -> ApiException.missing(blockParam + ".type")), block, blockParam));
        }
        return blocks;
    }

    /** The text of {@code system} or a tool's result: a string, or text blocks. */
    private static String text(Object content, String param) {
        StringBuilder text = new StringBuilder();
        for (Block block : blocks(content, param)) {
            if (!block.type().equals("text")) {
                throw unsupportedBlock(block);
            }
            text.append(block.fields().requiredString("text"));
        }
        return text.toString();
    }

    private static ApiException unsupportedBlock(Block block) {
        return ApiException.unsupported("Content blocks of type '" + block.type() + "' are not supported here; "
                + (Set.of("image", "document").contains(block.type()) ? "the model reads text only." : "only text, tool_use and tool_result are."),
                block.param() + ".type");
    }

    /** Client tools ({@code name}, {@code description}, {@code input_schema}) in the chat's shape. */
    private static List<Object> tools(RequestFields body) {
        List<Object> tools = new ArrayList<>();
        for (RequestFields tool : body.objects("tools")) {
            String param = tool.path();
            String type = tool.string("type").orElse("custom");
            if (!type.equals("custom")) {
                throw ApiException.unsupported("Tools of type '" + type + "' are not supported: this server runs no tools of its own;"
                        + " give client tools (a name and an input_schema).", param + ".type");
            }
            Map<String, Object> function = new LinkedHashMap<>();
            function.put("name", tool.string("name").orElseThrow(() -> ApiException.missing(param + ".name")));
            tool.string("description").ifPresent(description -> function.put("description", description));
            tool.object("input_schema").orElseThrow(() -> ApiException.missing(param + ".input_schema"));
            function.put("parameters", tool.raw("input_schema"));
            tools.add(Map.of("type", "function", "function", function));
        }
        return tools;
    }

    /** {@code tool_choice} as the chat's: auto, any (required), a tool by name, or none. */
    private static Object toolChoice(RequestFields body) {
        RequestFields choice = body.object("tool_choice").orElse(null);
        if (choice == null) {
            return null;
        }
        String type = choice.string("type").orElseThrow(() -> ApiException.missing("tool_choice.type"));
        choice.bool("disable_parallel_tool_use", false);
        return switch (type) {
            case "auto" -> "auto";
            case "any" -> "required";
            case "none" -> "none";
            case "tool" -> Map.of("type", "function", "function",
                    Map.of("name", choice.string("name").orElseThrow(() -> ApiException.missing("tool_choice.name"))));
            default -> throw ApiException.invalid("Invalid value for 'tool_choice.type': '" + type + "'; it must be auto, any, tool or none.",
                    "tool_choice.type");
        };
    }
}
