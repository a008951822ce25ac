package dev.panllama.chat;

import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A function the model may call: its name, what it does, and the JSON schema of its arguments, an
 * object (OpenAI's {@code tools[].function}).
 *
 * @param name             letters, digits, {@code _} and {@code -}, at most 64 (OpenAI's rule)
 * @param description      what the function does, for the model ("" for none)
 * @param parametersSchema the arguments' JSON schema as JSON text; an object with no properties when null
 */
public record Tool(String name, String description, String parametersSchema) {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    private static final String NO_PARAMETERS = "{\"type\":\"object\",\"properties\":{}}";

    public Tool {
        Objects.requireNonNull(name, "name");
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("a tool's name must be 1 to 64 letters, digits, '_' or '-', not '" + name + "'");
        }
        description = description == null ? "" : description;
        parametersSchema = parametersSchema == null ? NO_PARAMETERS : parametersSchema;
        JsonObjectText.read(parametersSchema, "the parameters of tool '" + name + "'");
    }

    /** The parameters' schema, read. */
    public Map<String, Object> parameters() {
        return JsonObjectText.read(parametersSchema, "the parameters of tool '" + name + "'");
    }
}
