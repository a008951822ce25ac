package dev.panllama.server;

import dev.panllama.json.JsonWriter;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One HTTP request and its response, written with blocking calls (handlers run on virtual threads):
 * a whole JSON or text body, or a stream of server-sent events (OpenAI's) or of JSON lines (Ollama's).
 * A write that fails because the client went away throws {@link IOException}.
 */
final class Exchange {

    /** How the reply streams, once it does. */
    enum Stream { NONE, EVENTS, TYPED_EVENTS, LINES }

    /** The most of a refused request's body read before the refusal is sent. */
    private static final long DISCARD_LIMIT = 16L << 20;

    private final Request request;
    private final Response response;
    private int status = 200;
    private Stream streaming = Stream.NONE;
    /** Whether a whole reply's status and headers went ahead of its body (see {@link #awaitingJson()}). */
    private boolean jsonStarted;
    /** The number of the next typed event (see {@link #typedEvent}); -1 where they are not numbered. */
    private int nextSequenceNumber = -1;
    /** The request's body as read so far; opened at the first read. */
    private InputStream content;

    Exchange(Request request, Response response) {
        this.request = request;
        this.response = response;
    }

    Request request() {
        return request;
    }

    /** The status sent, for the metrics. */
    int status() {
        return status;
    }

    Stream streaming() {
        return streaming;
    }

    /**
     * The request's body, at most {@code limit} bytes.
     *
     * @throws ApiException 413 when it is longer
     */
    byte[] body(long limit) throws IOException {
        if (request.getLength() > limit) {
            throw tooLarge(limit);
        }
        byte[] body = content().readNBytes((int) Math.min(limit + 1, Integer.MAX_VALUE - 8));
        if (body.length > limit) {
            throw tooLarge(limit);
        }
        return body;
    }

    /**
     * Reads and drops what is left of the request's body, up to {@link #DISCARD_LIMIT} bytes, before a
     * refusal. The client may still be sending it when the refusal goes out (a body too large, a wrong
     * key); were the connection closed with its bytes unread, Linux would reset it and the client would
     * see no reply at all (Java's HttpClient did, 4 times in 300 with a 64 KiB body). Past the limit the
     * connection is closed all the same. A client that has gone is left to the reply's write to notice.
     */
    void discardBody() {
        byte[] sink = new byte[16 * 1024];
        long left = DISCARD_LIMIT;
        try {
            InputStream in = content();
            for (int read; left > 0 && (read = in.read(sink, 0, (int) Math.min(sink.length, left))) > 0; ) {
                left -= read;
            }
        } catch (IOException e) {
            // The client has gone.
        }
    }

    private InputStream content() {
        if (content == null) {
            content = Request.asInputStream(request);
        }
        return content;
    }

    private static ApiException tooLarge(long limit) {
        return new ApiException(413, "invalid_request_error", "The request body is larger than this server accepts ("
                + limit + " bytes).", null, "request_too_large");
    }

    void header(HttpHeader name, String value) {
        response.getHeaders().put(name, value);
    }

    void json(int code, Map<String, Object> body) throws IOException {
        whole(code, "application/json", JsonWriter.write(body));
    }

    /** A whole JSON array body, as llama-server's own {@code /embedding} answers. */
    void jsonArray(int code, List<?> body) throws IOException {
        whole(code, "application/json", JsonWriter.write(body));
    }

    void text(int code, String contentType, String body) throws IOException {
        whole(code, contentType, body);
    }

    private void whole(int code, String contentType, String body) throws IOException {
        if (jsonStarted) {   // the status went already: the body follows the whitespace sent
            write(true, body);
            return;
        }
        status = code;
        response.setStatus(code);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        write(true, body);
    }

    /**
     * Sends a newline of a whole JSON reply that is still being generated, committing its status 200.
     * JSON allows whitespace before its value, and writing is how a server learns that an HTTP/1.1
     * client has gone: Jetty does not read a connection while its request is handled, and a write soon
     * fails once the peer has closed. Whatever follows is the body; an error after this keeps the 200.
     *
     * @throws IOException the client has gone
     */
    void awaitingJson() throws IOException {
        if (!jsonStarted) {
            jsonStarted = true;
            response.setStatus(200);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        }
        write(false, "\n");
    }

    /** Starts a 200 reply of server-sent events. */
    void startEvents() {
        streaming = Stream.EVENTS;
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
    }

    /** Sends one event, {@code data: JSON}, at once. */
    void event(Map<String, Object> data) throws IOException {
        write(false, "data: " + JsonWriter.write(data) + "\n\n");
    }

    /** Sends one last event and ends the reply without OpenAI's {@code [DONE]}, as llama-server's own stream ends. */
    void lastEvent(Map<String, Object> data) throws IOException {
        write(true, "data: " + JsonWriter.write(data) + "\n\n");
    }

    /** Sends OpenAI's end-of-stream event, {@code data: [DONE]}, and ends the reply. */
    void endEvents() throws IOException {
        write(true, "data: [DONE]\n\n");
    }

    /**
     * Starts a 200 reply of typed server-sent events, as OpenAI's Responses API and Anthropic's Messages
     * API stream: each names its type ({@code event: TYPE}), and the stream ends with its last event,
     * without {@code [DONE]}. {@code numbered}: each event's data carries its {@code sequence_number}
     * (OpenAI's; Anthropic's events have none).
     */
    void startTypedEvents(boolean numbered) {
        startEvents();
        streaming = Stream.TYPED_EVENTS;
        nextSequenceNumber = numbered ? 0 : -1;
    }

    /**
     * Sends one typed event: {@code event: TYPE}, and as its data {@code {"type": TYPE}}, {@code fields}, and
     * in a numbered stream the event's {@code sequence_number} (0, 1, ...). {@code last} ends the reply.
     */
    void typedEvent(String type, Map<String, Object> fields, boolean last) throws IOException {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("type", type);
        data.putAll(fields);
        if (nextSequenceNumber >= 0) {
            data.put("sequence_number", nextSequenceNumber++);
        }
        write(last, "event: " + type + "\ndata: " + JsonWriter.write(data) + "\n\n");
    }

    /** Starts a 200 reply of JSON objects, one a line ({@code application/x-ndjson}), as Ollama streams. */
    void startLines() {
        streaming = Stream.LINES;
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/x-ndjson");
    }

    /** Sends one line of JSON at once. */
    void line(Map<String, Object> json) throws IOException {
        write(false, JsonWriter.write(json) + "\n");
    }

    /** Sends the last line of JSON and ends the reply. */
    void endLines(Map<String, Object> json) throws IOException {
        write(true, JsonWriter.write(json) + "\n");
    }

    private void write(boolean last, String text) throws IOException {
        try (Blocker.Callback written = Blocker.callback()) {
            response.write(last, ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)), written);
            written.block();
        }
    }
}
