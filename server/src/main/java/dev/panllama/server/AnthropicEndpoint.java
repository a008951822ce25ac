package dev.panllama.server;

import dev.panllama.chat.ToolCall;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Anthropic's Messages API, {@code POST /v1/messages}, for the clients written for it (Anthropic's SDKs,
 * LangChain4j's and Spring AI's Anthropic modules, coding agents): the request is read as the chat
 * completion that asks for the same ({@link AnthropicRequests}) and generated as {@link CompletionEndpoint}'s
 * are; the reply is an {@link AnthropicMessage}, whole, or streamed as Anthropic streams it:
 * {@code message_start}; for text, {@code content_block_start}, a {@code content_block_delta}
 * ({@code text_delta}) per piece and {@code content_block_stop}; for tool calls (held back while the reply
 * may be one, as in a chat stream), each call's block with its input in one {@code input_json_delta};
 * then {@code message_delta} (the stop reason and the token counts) and {@code message_stop}. Also
 * {@code POST /v1/messages/count_tokens}.
 */
final class AnthropicEndpoint {

    private final RequestReader reader;
    private final BatchScheduler scheduler;
    private final String modelId;

    AnthropicEndpoint(RequestReader reader, BatchScheduler scheduler, String modelId) {
        this.reader = reader;
        this.scheduler = scheduler;
        this.modelId = modelId;
    }

    void serve(RequestFields body, Exchange exchange) throws IOException, InterruptedException {
        GenerationRequest request = reader.chatAsText(AnthropicRequests.chat(body, false));
        AnthropicMessage message = new AnthropicMessage(modelId);
        if (!request.stream()) {
            GenerationRun.Whole reply = GenerationRun.whole(scheduler, request, exchange);
            exchange.json(200, message.whole(reply.generation(), reply.calls()));
            return;
        }
        TextBlock text = new TextBlock(exchange);
        GenerationRun.Outcome outcome = GenerationRun.streamed(scheduler, request, exchange, () -> {
            exchange.startTypedEvents(false);
            exchange.typedEvent("message_start", Map.of("message", message.started(request.prompt().length)), false);
        }, piece -> text.add(piece.text()));
        int index = 0;
        if (outcome.calls().isEmpty() || text.started) {
            text.stop();
            index++;
        }
        for (ToolCall call : outcome.calls()) {
            exchange.typedEvent("content_block_start", block(index, "content_block", AnthropicMessage.toolUseBlock(call, Map.of())), false);
            exchange.typedEvent("content_block_delta", block(index, "delta", Map.of("type", "input_json_delta", "partial_json", call.arguments())),
                    false);
            exchange.typedEvent("content_block_stop", Map.of("index", index++), false);
        }
        exchange.typedEvent("message_delta", AnthropicMessage.delta(outcome.generation(), outcome.calls()), false);
        exchange.typedEvent("message_stop", Map.of(), true);
    }

    /** The stream's text block, the first: started at the first piece of text, or when it stops if none came. */
    private static final class TextBlock {

        private final Exchange exchange;
        private boolean started;

        TextBlock(Exchange exchange) {
            this.exchange = exchange;
        }

        void add(String piece) throws IOException {
            if (piece.isEmpty()) {
                return;
            }
            start();
            exchange.typedEvent("content_block_delta", block(0, "delta", Map.of("type", "text_delta", "text", piece)), false);
        }

        void stop() throws IOException {
            start();
            exchange.typedEvent("content_block_stop", Map.of("index", 0), false);
        }

        private void start() throws IOException {
            if (!started) {
                started = true;
                exchange.typedEvent("content_block_start", block(0, "content_block", AnthropicMessage.textBlock("")), false);
            }
        }
    }

    /** {@code /v1/messages/count_tokens}: the tokens of the prompt the request's system, messages and tools render to. */
    Map<String, Object> countTokens(RequestFields body) {
        return Map.of("input_tokens", reader.chatAsText(AnthropicRequests.chat(body, true)).prompt().length);
    }

    private static Map<String, Object> block(int index, String name, Map<String, Object> value) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("index", index);
        fields.put(name, value);
        return fields;
    }
}
