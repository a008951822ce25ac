package dev.panllama.server;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A request the server refuses, as OpenAI's API says so: an HTTP status and the body
 * {@code {"error":{"message","type","param","code"}}}. Thrown while a request is read or checked;
 * the handler turns it into the reply and goes on serving.
 */
final class ApiException extends RuntimeException {

    private final int status;
    private final String type;
    private final String param;
    private final String code;

    ApiException(int status, String type, String message, String param, String code) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400: a field is missing, of the wrong type or out of range. */
    static ApiException invalid(String message, String param) {
        return new ApiException(400, "invalid_request_error", message, param, null);
    }

    /** 400: a required field, named by its path ({@code messages[2].role}), is missing. */
    static ApiException missing(String param) {
        return invalid("Missing required parameter: '" + param + "'.", param);
    }

    /** 404: the request names a model other than the one {@code served}. */
    static ApiException modelNotFound(String requested, String served) {
        return new ApiException(404, "invalid_request_error", "The model '" + requested + "' does not exist; this server serves '"
                + served + "'.", "model", "model_not_found");
    }

    /** 400: a field asks for something this server does not do (yet). */
    static ApiException unsupported(String message, String param) {
        return new ApiException(400, "invalid_request_error", message, param, "unsupported_parameter");
    }

    /** 501: the served model cannot do what the endpoint asks (llama-server's "not_supported_error"). */
    static ApiException notSupported(String message) {
        return new ApiException(501, "not_supported_error", message, null, null);
    }

    int status() {
        return status;
    }

    /** The fields of the {@code error} event that ends a Responses stream (OpenAI's): the code, message and param. */
    Map<String, Object> eventFields() {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("code", code == null ? type : code);
        fields.put("message", getMessage());
        fields.put("param", param);
        return fields;
    }

    /**
     * The error as Anthropic's API writes it, {@code {"type": "error", "error": {"type", "message"}}}, its
     * type named by the status as Anthropic names it and its message led by the field's path, unless it names
     * it (Anthropic's errors have no field of their own for it); without the outer type, an {@code error}
     * event's fields.
     */
    Map<String, Object> anthropicError() {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("type", switch (status) {
            case 401 -> "authentication_error";
            case 403 -> "permission_error";
            case 404 -> "not_found_error";
            case 413 -> "request_too_large";
            case 429 -> "rate_limit_error";
            case 503 -> "overloaded_error";
            default -> status >= 500 ? "api_error" : "invalid_request_error";
        });
        error.put("message", param == null || getMessage().contains("'" + param + "'") ? getMessage() : param + ": " + getMessage());
        return Map.of("error", error);
    }

    /** The reply's body. */
    Map<String, Object> body() {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", getMessage());
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        return Map.of("error", error);
    }
}
