package dev.panllama.server;

import dev.panllama.chat.ToolCall;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * OpenAI's Responses API, {@code POST /v1/responses}: the request is read as the chat completion that
 * asks for the same ({@link ResponsesRequests}) and generated as {@link CompletionEndpoint}'s are; the
 * reply is a {@link ResponseObject}, whole, or streamed as typed events as OpenAI streams it:
 * {@code response.created} and {@code response.in_progress}; for text, the message's
 * {@code output_item.added} and {@code content_part.added}, an {@code output_text.delta} per piece, then
 * {@code output_text.done}, {@code content_part.done} and {@code output_item.done}; for tool calls (held
 * back while the reply may be one, as in a chat stream), each call's {@code output_item.added},
 * {@code function_call_arguments.delta} and {@code .done} and {@code output_item.done}; last
 * {@code response.completed}, or {@code response.incomplete} at the token limit.
 */
final class ResponsesEndpoint {

    private final RequestReader reader;
    private final BatchScheduler scheduler;
    private final LogprobsJson logprobsJson;
    private final String modelId;

    ResponsesEndpoint(RequestReader reader, BatchScheduler scheduler, LogprobsJson logprobsJson, String modelId) {
        this.reader = reader;
        this.scheduler = scheduler;
        this.logprobsJson = logprobsJson;
        this.modelId = modelId;
    }

    void serve(RequestFields body, Exchange exchange) throws IOException, InterruptedException {
        // The reasoning apart, as a reasoning item, where the chat template writes one (as llama-server gives it).
        GenerationRequest request = reader.chat(ResponsesRequests.chat(body));
        ResponseObject response = new ResponseObject(modelId, body, request);
        if (request.stream()) {
            stream(request, response, exchange);
            return;
        }
        GenerationRun.Whole reply = GenerationRun.whole(scheduler, request, exchange);
        List<Map<String, Object>> output = new ArrayList<>();
        if (!reply.reasoning().isEmpty()) {
            output.add(ResponseObject.reasoning(ResponseObject.newId("rs_"), "completed", reply.reasoning()));
        }
        // A reply cut off inside its reasoning has no message, as in llama-server.
        if (reply.calls().isEmpty() && (!reply.text().isEmpty() || output.isEmpty())) {
            List<Map<String, Object>> logprobs = request.wantsLogprobs() ? logprobsJson.responses(reply.scores()) : List.of();
            output.add(ResponseObject.message(ResponseObject.newId("msg_"), "completed",
                    List.of(ResponseObject.outputText(reply.text(), logprobs))));
        }
        for (ToolCall call : reply.calls()) {
            output.add(ResponseObject.functionCall(ResponseObject.newId("fc_"), "completed", call, call.arguments()));
        }
        exchange.json(200, response.finished(reply.generation(), output));
    }

    private void stream(GenerationRequest request, ResponseObject response, Exchange exchange) throws IOException, InterruptedException {
        List<Map<String, Object>> output = new ArrayList<>();
        ReasoningItem reasoning = new ReasoningItem(exchange, output);
        OutputMessage message = new OutputMessage(exchange, output);
        GenerationRun.Outcome outcome = GenerationRun.streamed(scheduler, request, exchange, () -> {
            exchange.startTypedEvents(true);
            exchange.typedEvent("response.created", Map.of("response", response.inProgress()), false);
            exchange.typedEvent("response.in_progress", Map.of("response", response.inProgress()), false);
        }, piece -> {
            reasoning.add(piece.reasoning());
            if (!piece.text().isEmpty()) {
                reasoning.finish();
            }
            message.add(piece.text(), request.wantsLogprobs() ? logprobsJson.responses(piece.logprobs()) : List.of());
        });
        reasoning.finish();
        if (outcome.calls().isEmpty() && (message.opened || output.isEmpty())) {
            message.finish();
        }
        for (ToolCall call : outcome.calls()) {
            output.add(streamCall(call, output.size(), exchange));
        }
        Map<String, Object> finished = response.finished(outcome.generation(), output);
        exchange.typedEvent(ResponseObject.isIncomplete(finished) ? "response.incomplete" : "response.completed",
                Map.of("response", finished), true);
    }

    /** Streams one whole call as an output item: added, its arguments in one delta, done. */
    private static Map<String, Object> streamCall(ToolCall call, int outputIndex, Exchange exchange) throws IOException {
        String itemId = ResponseObject.newId("fc_");
        exchange.typedEvent("response.output_item.added",
                item(outputIndex, ResponseObject.functionCall(itemId, "in_progress", call, "")), false);
        exchange.typedEvent("response.function_call_arguments.delta", part(itemId, outputIndex, "delta", call.arguments()), false);
        Map<String, Object> done = part(itemId, outputIndex, "name", call.name());
        done.put("arguments", call.arguments());
        exchange.typedEvent("response.function_call_arguments.done", done, false);
        Map<String, Object> item = ResponseObject.functionCall(itemId, "completed", call, call.arguments());
        exchange.typedEvent("response.output_item.done", item(outputIndex, item), false);
        return item;
    }

    private static Map<String, Object> item(int outputIndex, Map<String, Object> item) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("output_index", outputIndex);
        fields.put("item", item);
        return fields;
    }

    private static Map<String, Object> part(String itemId, int outputIndex, String name, Object value) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("item_id", itemId);
        fields.put("output_index", outputIndex);
        fields.put(name, value);
        return fields;
    }

    /**
     * The stream's reasoning item, the first output item where the reply's reasoning came apart: added at the
     * first piece of reasoning, done (and put in {@code output}) at the first piece of text or at the end.
     */
    private static final class ReasoningItem {

        private final Exchange exchange;
        private final List<Map<String, Object>> output;
        private final String id = ResponseObject.newId("rs_");
        private final StringBuilder text = new StringBuilder();
        private boolean open;

        ReasoningItem(Exchange exchange, List<Map<String, Object>> output) {
            this.exchange = exchange;
            this.output = output;
        }

        void add(String piece) throws IOException {
            if (piece.isEmpty()) {
                return;
            }
            if (!open) {
                open = true;
                exchange.typedEvent("response.output_item.added", item(output.size(), ResponseObject.reasoning(id, "in_progress", "")), false);
            }
            text.append(piece);
            Map<String, Object> delta = part(id, output.size(), "content_index", 0);
            delta.put("delta", piece);
            exchange.typedEvent("response.reasoning_text.delta", delta, false);
        }

        void finish() throws IOException {
            if (!open) {
                return;
            }
            open = false;
            Map<String, Object> done = part(id, output.size(), "content_index", 0);
            done.put("text", text.toString());
            exchange.typedEvent("response.reasoning_text.done", done, false);
            Map<String, Object> item = ResponseObject.reasoning(id, "completed", text.toString());
            exchange.typedEvent("response.output_item.done", item(output.size(), item), false);
            output.add(item);
        }
    }

    /**
     * The stream's message of output text, the output item after any reasoning: opened (its item and content part
     * added) at the first piece of text, or at the end when the reply has none; the log probabilities of tokens
     * that released no text go with the next delta.
     */
    private static final class OutputMessage {

        private final Exchange exchange;
        private final List<Map<String, Object>> output;
        private final String id = ResponseObject.newId("msg_");
        private final StringBuilder text = new StringBuilder();
        private final List<Map<String, Object>> logprobs = new ArrayList<>();
        private final List<Map<String, Object>> pending = new ArrayList<>();
        private boolean opened;
        private int index;

        OutputMessage(Exchange exchange, List<Map<String, Object>> output) {
            this.exchange = exchange;
            this.output = output;
        }

        void add(String piece, List<Map<String, Object>> pieceLogprobs) throws IOException {
            pending.addAll(pieceLogprobs);
            if (piece.isEmpty()) {
                return;
            }
            open();
            text.append(piece);
            logprobs.addAll(pending);
            Map<String, Object> delta = textPart("delta", piece);
            delta.put("logprobs", List.copyOf(pending));
            pending.clear();
            exchange.typedEvent("response.output_text.delta", delta, false);
        }

        /** Ends the message (opening it first when no text came) and puts it in the output. */
        void finish() throws IOException {
            open();
            logprobs.addAll(pending);
            Map<String, Object> done = textPart("text", text.toString());
            done.put("logprobs", logprobs);
            exchange.typedEvent("response.output_text.done", done, false);
            Map<String, Object> part = ResponseObject.outputText(text.toString(), logprobs);
            Map<String, Object> partDone = textPart("part", part);
            exchange.typedEvent("response.content_part.done", partDone, false);
            Map<String, Object> item = ResponseObject.message(id, "completed", List.of(part));
            exchange.typedEvent("response.output_item.done", item(index, item), false);
            output.add(item);
        }

        private void open() throws IOException {
            if (opened) {
                return;
            }
            opened = true;
            index = output.size();
            exchange.typedEvent("response.output_item.added", item(index, ResponseObject.message(id, "in_progress", List.of())), false);
            exchange.typedEvent("response.content_part.added", textPart("part", ResponseObject.outputText("", List.of())), false);
        }

        /** The fields of an event about the message's one content part, then {@code name}'s value. */
        private Map<String, Object> textPart(String name, Object value) {
            Map<String, Object> fields = part(id, index, "content_index", 0);
            fields.put(name, value);
            return fields;
        }
    }
}
