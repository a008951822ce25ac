package dev.panllama.chat;

import dev.panllama.json.JsonReader;
import dev.panllama.json.JsonWriter;
import dev.panllama.structured.JsonSchema;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * How panllama asks a model to call a tool, and reads calls back: a call is one JSON object,
 * {@code {"name": ..., "parameters": {...}}}, the format Meta's Llama 3.1 to 3.3 chat templates
 * describe to their models (and the one their templates, and Llama 4's, write calls back in). Chat formats without
 * tools of their own (the built-in ones, and templates that never mention tools) get the tools and
 * that format described in the system message, calls written back as that JSON, and tool results as
 * turns of the role Llama calls {@code ipython}.
 */
public final class ToolCallFormat {

    private static final SecureRandom IDS = new SecureRandom();
    /**
     * What Llama models may write around calls when their special tokens are shown: Llama 4's
     * {@code <|python_start|>} and {@code <|python_end|>} (its Hugging Face template writes them before
     * the calls), Llama 3.1's {@code <|python_tag|>}.
     */
    static final List<String[]> WRAPPERS = List.of(new String[]{"<|python_start|>", "<|python_end|>"}, new String[]{"<|python_tag|>", ""});

    private ToolCallFormat() {
    }

    /** The text of a call as the model writes it. */
    public static String callText(ToolCall call) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("name", call.name());
        json.put("parameters", call.argumentValues());
        return JsonWriter.write(json);
    }

    /**
     * The calls {@code reply} makes: one JSON object, or several one after another (white space or
     * {@code ;} between them), each naming one of {@code tools} and holding its {@code parameters} (or
     * {@code arguments}) as an object or not at all; the {@link #WRAPPERS}' tokens may stand around or
     * between them. Empty when the reply is anything else, text around the objects included. The
     * arguments are written anew as compact JSON, whole numbers without a fraction.
     */
    public static List<ToolCall> parse(String reply, List<Tool> tools) {
        String text = reply;
        for (String[] wrapper : WRAPPERS) {
            text = text.replace(wrapper[0], " ");
            if (!wrapper[1].isEmpty()) {
                text = text.replace(wrapper[1], " ");
            }
        }
        List<Object> values;
        try {
            values = JsonReader.parseAll(text, ";");
        } catch (IllegalArgumentException notJson) {
            return List.of();
        }
        List<ToolCall> calls = new ArrayList<>();
        for (Object value : values) {
            Optional<ToolCall> call = call(value, tools);
            if (call.isEmpty()) {
                return List.of();
            }
            calls.add(call.get());
        }
        return calls;
    }

    /** One JSON value, read, as a call of one of {@code tools}, if it is one. */
    private static Optional<ToolCall> call(Object parsed, List<Tool> tools) {
        if (!(parsed instanceof Map<?, ?> object) || !(object.get("name") instanceof String name)
                || tools.stream().noneMatch(tool -> tool.name().equals(name))) {
            return Optional.empty();
        }
        Object arguments = object.containsKey("parameters") ? object.get("parameters") : object.get("arguments");
        if (arguments == null && !object.containsKey("parameters") && !object.containsKey("arguments")) {
            arguments = Map.of();
        }
        if (!(arguments instanceof Map<?, ?>)) {
            return Optional.empty();
        }
        return Optional.of(new ToolCall(newCallId(), name, JsonWriter.write(ToolCall.wholeNumbers(arguments))));
    }

    /** A call id as OpenAI's look: {@code call_} and 24 random hex digits. */
    public static String newCallId() {
        byte[] bytes = new byte[12];
        IDS.nextBytes(bytes);
        return "call_" + HexFormat.of().formatHex(bytes);
    }

    /**
     * The schema of a reply that calls one of {@code tools}, for constrained sampling: the name as a
     * constant, the parameters as the tool's own schema.
     *
     * @throws IllegalArgumentException when a tool's schema uses what constrained sampling does not
     *                                  support; the message names the tool and the keyword
     */
    public static JsonSchema callSchema(List<Tool> tools) {
        List<Object> calls = new ArrayList<>();
        for (Tool tool : tools) {
            Map<String, Object> properties = new LinkedHashMap<>();
            properties.put("name", Map.of("const", tool.name()));
            properties.put("parameters", tool.parameters());
            Map<String, Object> call = new LinkedHashMap<>();
            call.put("type", "object");
            call.put("properties", properties);
            call.put("required", List.of("name", "parameters"));
            calls.add(call);
        }
        Object schema = calls.size() == 1 ? calls.getFirst() : Map.of("anyOf", calls);
        try {
            return JsonSchema.compile(JsonWriter.write(schema));
        } catch (IllegalArgumentException unsupported) {
            throw new IllegalArgumentException("a tool's parameters cannot constrain a call: " + unsupported.getMessage()
                    + (tools.size() == 1 ? " (tool '" + tools.getFirst().name() + "')" : ""), unsupported);
        }
    }

    /** What the system message says when the chat format has no way of its own to offer tools. */
    static String instructions(List<Tool> tools) {
        StringBuilder text = new StringBuilder("You may call the functions below. To call one, reply with a single JSON object"
                + " and nothing else: {\"name\": the function's name, \"parameters\": an object of its arguments}."
                + " Where no function helps, answer in plain text.\n");
        for (Tool tool : tools) {
            text.append('\n').append(JsonWriter.write(openAiShape(tool)));
        }
        return text.toString();
    }

    /** A tool as OpenAI's requests list it, which is also how Hugging Face chat templates take it. */
    static Map<String, Object> openAiShape(Tool tool) {
        Map<String, Object> function = new LinkedHashMap<>();
        function.put("name", tool.name());
        function.put("description", tool.description());
        function.put("parameters", tool.parameters());
        Map<String, Object> shape = new LinkedHashMap<>();
        shape.put("type", "function");
        shape.put("function", function);
        return shape;
    }

    /**
     * {@code messages} for a chat format with no tools of its own: the tools described in the system
     * message (one is added first where there is none), each assistant's calls written after its text
     * as this format's JSON, and tool results as turns of {@code resultRole}.
     */
    static List<Message> inline(List<Message> messages, List<Tool> tools, String resultRole) {
        List<Message> plain = new ArrayList<>();
        int from = 0;
        if (!tools.isEmpty()) {
            boolean hasSystem = !messages.isEmpty() && messages.getFirst().role().equals("system");
            plain.add(Message.system(hasSystem ? messages.getFirst().content() + "\n\n" + instructions(tools) : instructions(tools)));
            from = hasSystem ? 1 : 0;
        }
        for (Message message : messages.subList(from, messages.size())) {
            if (message.callsTools()) {
                StringBuilder text = new StringBuilder(message.content());
                for (ToolCall call : message.toolCalls()) {
                    text.append(text.isEmpty() ? "" : "\n").append(callText(call));
                }
                plain.add(Message.assistant(text.toString()).withReasoning(message.reasoning()));
            } else if (message.role().equals("tool")) {
                plain.add(new Message(resultRole, message.content()));
            } else {
                plain.add(message);
            }
        }
        return plain;
    }
}
