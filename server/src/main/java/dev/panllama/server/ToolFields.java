package dev.panllama.server;

import dev.panllama.chat.Tool;
import dev.panllama.chat.ToolCall;
import dev.panllama.chat.ToolUse;
import dev.panllama.json.JsonWriter;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The tool fields of a chat request, as OpenAI defines them: {@code tools} (functions with a JSON
 * schema of their parameters), {@code tool_choice} ({@code none}, {@code auto}, {@code required} or one
 * function by name; {@code auto} where there are tools, else {@code none}) and
 * {@code parallel_tool_calls} (taken; a required call is one, a reply the model chooses may make
 * several), and in the messages an assistant's {@code tool_calls} and a tool result's {@code tool_call_id}.
 */
final class ToolFields {

    private ToolFields() {
    }

    static ToolUse read(RequestFields body) {
        body.bool("parallel_tool_calls", true);
        List<Tool> tools = tools(body);
        Object choice = body.raw("tool_choice");
        if (choice != null && tools.isEmpty()) {
            throw ApiException.invalid("'tool_choice' is only allowed when 'tools' are given.", "tool_choice");
        }
        try {
            if (choice == null) {
                return tools.isEmpty() ? ToolUse.NONE : ToolUse.auto(tools);
            }
            if (choice instanceof Map<?, ?> named) {
                return ToolUse.function(tools, namedFunction(RequestFields.of(named, "tool_choice")));
            }
            return switch (choice instanceof String word ? word : "") {
                case "none" -> new ToolUse(tools, ToolUse.Choice.NONE, null);
                case "auto" -> ToolUse.auto(tools);
                case "required" -> ToolUse.required(tools);
                default -> throw ApiException.invalid("Invalid value for 'tool_choice': it must be none, auto, required,"
                        + " or {\"type\": \"function\", \"function\": {\"name\": ...}}.", "tool_choice");
            };
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("Invalid 'tool_choice': " + e.getMessage() + ".", "tool_choice");
        }
    }

    private static List<Tool> tools(RequestFields body) {
        List<Tool> tools = new ArrayList<>();
        for (RequestFields tool : body.objects("tools")) {
            String param = tool.path();
            String type = tool.string("type").orElse("function");
            if (!type.equals("function")) {
                throw ApiException.unsupported("Tools of type '" + type + "' are not supported; only functions are.", param + ".type");
            }
            RequestFields function = tool.object("function")
                    .orElseThrow(() -> ApiException.missing(param + ".function"));
            String name = function.string("name")
                    .orElseThrow(() -> ApiException.missing(param + ".function.name"));
            function.bool("strict", false);
            Object parameters = function.raw("parameters");
            if (parameters != null && !(parameters instanceof Map<?, ?>)) {
                throw RequestFields.wrongType(param + ".function.parameters", "a JSON schema object");
            }
            try {
                tools.add(new Tool(name, function.string("description").orElse(""), parameters == null ? null : JsonWriter.write(parameters)));
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid("Invalid '" + param + ".function': " + e.getMessage() + ".", param + ".function");
            }
        }
        return tools;
    }

    private static String namedFunction(RequestFields choice) {
        if (!choice.string("type").orElse("function").equals("function")) {
            throw ApiException.invalid("'tool_choice.type' must be function.", "tool_choice.type");
        }
        return choice.object("function").flatMap(f -> f.string("name"))
                .orElseThrow(() -> ApiException.missing("tool_choice.function.name"));
    }

    /** An assistant message's {@code tool_calls}: each an id and a function's name and arguments (a JSON object's text). */
    static List<ToolCall> calls(RequestFields message) {
        List<ToolCall> calls = new ArrayList<>();
        for (RequestFields call : message.objects("tool_calls")) {
            String at = call.path();
            String id = call.string("id").orElseThrow(() -> ApiException.missing(at + ".id"));
            RequestFields function = call.object("function")
                    .orElseThrow(() -> ApiException.missing(at + ".function"));
            String name = function.string("name")
                    .orElseThrow(() -> ApiException.missing(at + ".function.name"));
            try {
                calls.add(new ToolCall(id, name, function.string("arguments").orElse("{}")));
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid("'" + at + ".function.arguments' must be a JSON object's text (" + e.getMessage() + ").",
                        at + ".function.arguments");
            }
        }
        return calls;
    }
}
