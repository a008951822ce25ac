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
        // The reasoning apart, as a thinking block, where the chat template writes one (as llama-server gives it).
        GenerationRequest request = reader.chat(AnthropicRequests.chat(body, false));
        AnthropicMessage message = new AnthropicMessage(modelId);
        if (!request.stream()) {
            exchange.json(200, message.whole(GenerationRun.whole(scheduler, request, exchange)));
            return;
        }
        Blocks blocks = new Blocks(exchange);
        GenerationRun.Outcome outcome = GenerationRun.streamed(scheduler, request, exchange, () -> {
            exchange.startTypedEvents(false);
            exchange.typedEvent("message_start", Map.of("message", message.started(request.prompt().length)), false);
        }, piece -> {
            blocks.think(piece.reasoning());
            blocks.say(piece.text());
        });
        int index = blocks.end(!outcome.calls().isEmpty());
        for (ToolCall call : outcome.calls()) {
            exchange.typedEvent("content_block_start", block(index, "content_block", AnthropicMessage.toolUseBlock(call, Map.of())), false);
            exchange.typedEvent("content_block_delta", block(index, "delta", Map.of("type", "input_json_delta", "partial_json", call.arguments())),
                    false);
            exchange.typedEvent("content_block_stop", Map.of("index", index++), false);
        }
        exchange.typedEvent("message_delta", AnthropicMessage.delta(outcome.generation(), outcome.calls()), false);
        exchange.typedEvent("message_stop", Map.of(), true);
    }

    /**
     * A stream's thinking and text blocks, in that order: the thinking block from the first piece of reasoning to
     * the first piece of text (closed with the empty signature Anthropic's clients wait for), the text block from
     * then on, or started when it ends if nothing came (a reply of calls, or one cut off inside its reasoning, has
     * none unless text came).
     */
    private static final class Blocks {

        private final Exchange exchange;
        private boolean thinking;
        private boolean textStarted;
        private int textIndex = -1;
        /** The index the next block takes. */
        private int next;

        Blocks(Exchange exchange) {
            this.exchange = exchange;
        }

        void think(String piece) throws IOException {
            if (piece.isEmpty()) {
                return;
            }
            if (!thinking) {
                thinking = true;
                exchange.typedEvent("content_block_start", block(next, "content_block", Map.of("type", "thinking", "thinking", "")), false);
            }
            exchange.typedEvent("content_block_delta", block(next, "delta", Map.of("type", "thinking_delta", "thinking", piece)), false);
        }

        private void endThinking() throws IOException {
            if (thinking) {
                thinking = false;
                exchange.typedEvent("content_block_delta", block(next, "delta", Map.of("type", "signature_delta", "signature", "")), false);
                exchange.typedEvent("content_block_stop", Map.of("index", next++), false);
            }
        }

        /**
         * Closes the blocks, a text block opened first where nothing came and no calls follow; returns the index
         * the calls' blocks start at.
         */
        int end(boolean callsFollow) throws IOException {
            boolean thought = next > 0 || thinking;
            endThinking();
            if (textStarted || (!callsFollow && !thought)) {
                startText();
                exchange.typedEvent("content_block_stop", Map.of("index", textIndex), false);
            }
            return next;
        }

        void say(String piece) throws IOException {
            if (piece.isEmpty()) {
                return;
            }
            startText();
            exchange.typedEvent("content_block_delta", block(textIndex, "delta", Map.of("type", "text_delta", "text", piece)), false);
        }

        private void startText() throws IOException {
            if (!textStarted) {
                endThinking();
                textStarted = true;
                textIndex = next++;
                exchange.typedEvent("content_block_start", block(textIndex, "content_block", AnthropicMessage.textBlock("")), false);
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
