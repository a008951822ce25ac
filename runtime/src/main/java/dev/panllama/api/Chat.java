package dev.panllama.api;

import dev.panllama.chat.CallHoldBack;
import dev.panllama.chat.ChatFormat;
import dev.panllama.chat.Message;
import dev.panllama.chat.ReasoningSplit;
import dev.panllama.chat.ToolCall;
import dev.panllama.chat.ToolUse;
import dev.panllama.eval.Evaluator;
import dev.panllama.structured.JsonSchema;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A conversation with a model: a system prompt, the messages so far and the model's chat format. Each
 * {@code send} adds the user's message, generates the reply and adds it too. The KV cache keeps the
 * conversation between turns: a new turn evaluates only what the last one did not.
 *
 * <p>{@link #save} writes the conversation and its KV cache to a file and {@link #load(java.nio.file.Path)}
 * takes them back, in this process or another, so that the conversation continues without evaluating
 * it again.
 *
 * <p>One thread at a time; {@link #cancel()} may be called from any thread to stop the reply being
 * generated (it ends with {@link Generation.StopReason#CANCELLED}, keeping what was said so far).
 */
public final class Chat extends Session {

    private final List<Message> messages = new ArrayList<>();
    private final ChatFormat format;

    Chat(LlamaModel model, Evaluator evaluator, ChatFormat format, String systemPrompt) {
        super(model, evaluator);
        this.format = format;
        if (systemPrompt != null && !systemPrompt.isEmpty()) {
            messages.add(Message.system(systemPrompt));
        }
    }

    /** The conversation so far. */
    public List<Message> messages() {
        checkOpen();
        return List.copyOf(messages);
    }

    public ChatFormat format() {
        return format;
    }

    /** Replaces the system prompt (the conversation stays). */
    public void systemPrompt(String prompt) {
        checkOpen();
        messages.removeIf(m -> m.role().equals("system"));
        if (prompt != null && !prompt.isEmpty()) {
            messages.addFirst(Message.system(prompt));
        }
    }

    /** Forgets the conversation but keeps the system prompt. */
    public void reset() {
        checkOpen();
        messages.removeIf(m -> !m.role().equals("system"));
        generator.reset();
    }

    /**
     * Replaces the conversation with {@code history}, whose tokens the next {@code send} evaluates;
     * {@link #load(java.nio.file.Path)} restores a saved session with its KV cache instead.
     */
    public void load(List<Message> history) {
        checkOpen();
        messages.clear();
        messages.addAll(history);
    }

    @Override
    List<Message> savedMessages() {
        return messages;
    }

    @Override
    void loadedMessages(List<Message> saved) {
        messages.clear();
        messages.addAll(saved);
    }

    /** Sends {@code text} and returns the whole reply. */
    public Generation send(String text, GenerationOptions options) {
        return send(text, options, piece -> { });
    }

    /** Sends {@code text}, streaming the reply to {@code onText} piece by piece as it is generated. */
    public Generation send(String text, GenerationOptions options, Consumer<String> onText) {
        checkOpen();
        messages.add(Message.user(text));
        try {
            return reply(ToolUse.NONE, options, onText).generation();
        } catch (RuntimeException e) {
            messages.removeLast();
            throw e;
        }
    }

    /** Adds {@code message} to the conversation without generating: a tool's result, or a turn as it was. */
    public void add(Message message) {
        checkOpen();
        messages.add(message);
    }

    /**
     * Generates the assistant's turn after the conversation so far (which ends with the user's message or
     * a tool's result), offering {@code tools}, and adds it: its text, or the calls it makes. Its text streams to {@code onText} as it
     * comes, except text that may still turn out to be a tool call, which is held back until it is known
     * not to be one. A call that {@code tools} requires is sampled under its schema, so it cannot be
     * combined with {@link GenerationOptions#structure()}.
     */
    public ChatReply reply(ToolUse tools, GenerationOptions options, Consumer<String> onText) {
        return reply(tools, options, onText, () -> false);
    }

    /**
     * As {@link #reply(ToolUse, GenerationOptions, Consumer)}, also stopping as {@link #cancel()} does once
     * {@code stopRequested} says so; it is asked before each token. A caller that owns its own cancel
     * signal passes it here: unlike a {@link #cancel()}, which this reply's start clears, it cannot be lost
     * between a caller's check and the reply's start.
     */
    public ChatReply reply(ToolUse tools, GenerationOptions options, Consumer<String> onText,
                           BooleanSupplier stopRequested) {
        return reply(tools, options, false, piece -> { }, onText, stopRequested);
    }

    /**
     * As {@link #reply(ToolUse, GenerationOptions, Consumer, BooleanSupplier)}, with the reply's reasoning apart
     * from its text where the chat template writes reasoning blocks ({@code <think>}, as DeepSeek R1's
     * distillations do; {@link ReasoningSplit}): the reasoning streams to {@code onReasoning} and is the reply's
     * {@link ChatReply#reasoning()}, the rest to {@code onText}; the conversation keeps the reasoning apart too
     * ({@link Message#reasoning()}), for templates that give it back to the model.
     */
    public ChatReply reply(ToolUse tools, GenerationOptions options, Consumer<String> onReasoning, Consumer<String> onText,
                           BooleanSupplier stopRequested) {
        return reply(tools, options, true, onReasoning, onText, stopRequested);
    }

    private ChatReply reply(ToolUse tools, GenerationOptions options, boolean reasoningApart, Consumer<String> onReasoning,
                            Consumer<String> onText, BooleanSupplier stopRequested) {
        checkOpen();
        JsonSchema requiredCall = tools.requiredCall();
        if (requiredCall != null) {
            if (options.structure() != null) {
                throw new IllegalArgumentException("a reply cannot both be a required tool call and follow a JSON schema or a grammar");
            }
            options = options.withJsonSchema(requiredCall);
        }
        String rendered = format.render(messages, tools.offered(), true);
        if (options.reasoningBudget() != null) {
            String opening = ChatFormat.replyOpening(rendered, format.render(messages, tools.offered(), false));
            options = options.withReasoningBudget(options.reasoningBudget().openedWith(opening));
        }
        cancelled.set(false);
        int[] prompt = model.tokenizer().encode(rendered, true, true);
        ReasoningSplit split = new ReasoningSplit(reasoningApart
                ? ReasoningSplit.at(rendered, format.writesReasoning(), true) : ReasoningSplit.Start.NONE);
        CallHoldBack held = new CallHoldBack(tools);
        StringBuilder reasoning = new StringBuilder();
        StringBuilder text = new StringBuilder();
        Consumer<ReasoningSplit.Parts> hand = parts -> {
            if (!parts.reasoning().isEmpty()) {
                reasoning.append(parts.reasoning());
                onReasoning.accept(parts.reasoning());
            }
            text.append(parts.content());
            String passed = held.pass(parts.content());
            if (!passed.isEmpty()) {
                onText.accept(passed);
            }
        };
        Generation generation = generator.generate(prompt, options, piece -> hand.accept(split.pass(piece)),
                () -> cancelled.get() || stopRequested.getAsBoolean());
        hand.accept(split.finish());
        List<ToolCall> calls = tools.callsIn(text.toString());
        if (calls.isEmpty() && !held.rest().isEmpty()) {
            onText.accept(held.rest());
        }
        messages.add((calls.isEmpty() ? Message.assistant(text.toString()) : Message.assistant("", calls)).withReasoning(reasoning.toString()));
        return new ChatReply(generation, calls, reasoning.toString(), text.toString());
    }

    /** Sends {@code text}; the reply as a lazy stream of text pieces, generated as it is consumed. */
    public Stream<String> stream(String text, GenerationOptions options) {
        checkOpen();
        return TokenStreams.stream(sink -> send(text, options, sink), this::cancel);
    }

    /**
     * Sends {@code text}; the reply as a {@link Flow.Publisher} of text pieces, generated on a thread
     * of its own once subscribed. Cancelling the subscription cancels the generation.
     */
    public Flow.Publisher<String> publish(String text, GenerationOptions options) {
        checkOpen();
        return TokenStreams.publisher(sink -> send(text, options, sink), this::cancel);
    }
}
