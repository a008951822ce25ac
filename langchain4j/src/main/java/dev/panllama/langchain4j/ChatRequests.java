package dev.panllama.langchain4j;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.internal.JsonSchemaElementUtils;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import dev.panllama.api.ChatReply;
import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.chat.Message;
import dev.panllama.chat.Tool;
import dev.panllama.chat.ToolCall;
import dev.panllama.chat.ToolUse;
import dev.panllama.json.JsonWriter;
import dev.panllama.sampling.SamplingOptions;

import java.util.ArrayList;
import java.util.List;

/**
 * Between LangChain4j's chat requests and responses and panllama's facade: messages to the
 * conversation (tool calls and their results included), tool specifications and the tool choice to a
 * {@link ToolUse}, request parameters (JSON response formats included) over the model's default
 * {@link GenerationOptions}, and a {@link ChatReply} back to a {@link ChatResponse}. What the facade
 * cannot do (images, audio) is an {@link UnsupportedFeatureException}.
 */
final class ChatRequests {

    private ChatRequests() {
    }

    /** The conversation, which ends with the user's message or a tool's result. */
    static List<Message> conversation(ChatRequest request) {
        List<Message> conversation = new ArrayList<>();
        for (ChatMessage message : request.messages()) {
            conversation.add(switch (message) {
                case SystemMessage system -> Message.system(system.text());
                case UserMessage user -> Message.user(text(user));
                // Its thinking goes back to the template, which keeps it where the model expects it (in a round of tool calls).
                case AiMessage ai -> Message.assistant(ai.text() == null ? "" : ai.text(), ai.hasToolExecutionRequests()
                        ? ai.toolExecutionRequests().stream().map(ChatRequests::toolCall).toList() : List.of())
                        .withReasoning(ai.thinking() == null ? "" : ai.thinking());
                case ToolExecutionResultMessage result -> Message.tool(result.id() == null ? "" : result.id(), result.text());
                default -> throw new UnsupportedFeatureException(message.type() + " messages are not supported by panllama");
            });
        }
        String last = conversation.isEmpty() ? "nothing" : conversation.getLast().role();
        if (!last.equals("user") && !last.equals("tool")) {
            throw new IllegalArgumentException("the last message must be the user's or a tool's result, not " + last);
        }
        return conversation;
    }

    private static ToolCall toolCall(ToolExecutionRequest request) {
        String arguments = request.arguments() == null || request.arguments().isBlank() ? "{}" : request.arguments();
        return new ToolCall(request.id() == null ? "" : request.id(), request.name(), arguments);
    }

    private static String text(UserMessage user) {
        if (!user.hasSingleText()) {
            throw new UnsupportedFeatureException("only text messages are supported by panllama");
        }
        return user.singleText();
    }

    /** The tools the request offers and whether the reply must call one (LangChain4j's AUTO where it does not say). */
    static ToolUse tools(ChatRequestParameters parameters) {
        List<ToolSpecification> specifications = parameters.toolSpecifications() == null ? List.of() : parameters.toolSpecifications();
        List<Tool> tools = specifications.stream().map(spec -> new Tool(spec.name(), spec.description(),
                spec.parameters() == null ? null : JsonWriter.write(JsonSchemaElementUtils.toMap(spec.parameters())))).toList();
        if (parameters.toolChoice() == null) {
            return tools.isEmpty() ? ToolUse.NONE : ToolUse.auto(tools);
        }
        return switch (parameters.toolChoice()) {
            case AUTO -> ToolUse.auto(tools);
            case REQUIRED -> ToolUse.required(tools);
            case NONE -> new ToolUse(tools, ToolUse.Choice.NONE, null);
        };
    }

    /** {@code defaults} with what the request's parameters set. */
    static GenerationOptions options(GenerationOptions defaults, ChatRequestParameters parameters) {
        SamplingOptions s = defaults.sampling();
        SamplingOptions sampling = new SamplingOptions(
                parameters.temperature() != null ? parameters.temperature().floatValue() : s.temperature(),
                parameters.topK() != null ? parameters.topK() : s.topK(),
                parameters.topP() != null ? parameters.topP().floatValue() : s.topP(),
                s.minP(), s.repeatPenalty(), s.repeatLastN(),
                parameters.frequencyPenalty() != null ? parameters.frequencyPenalty().floatValue() : s.frequencyPenalty(),
                parameters.presencePenalty() != null ? parameters.presencePenalty().floatValue() : s.presencePenalty(),
                s.seed(), s.logitBias());
        GenerationOptions options = new GenerationOptions(
                parameters.maxOutputTokens() != null ? parameters.maxOutputTokens() : defaults.maxTokens(),
                parameters.stopSequences() != null && !parameters.stopSequences().isEmpty() ? parameters.stopSequences() : defaults.stopStrings(),
                sampling, defaults.structure(), defaults.reasoningBudget());
        return structured(options, parameters.responseFormat());
    }

    /**
     * A JSON response format: any JSON object, or a document of its schema, sampled under that constraint
     * (a schema that uses what panllama does not support is an {@link IllegalArgumentException} naming it).
     */
    private static GenerationOptions structured(GenerationOptions options, ResponseFormat format) {
        if (format == null || format.type() != ResponseFormatType.JSON) {
            return options;
        }
        if (format.jsonSchema() == null || format.jsonSchema().rootElement() == null) {
            return options.withJsonObject();
        }
        return options.withJsonSchema(JsonWriter.write(JsonSchemaElementUtils.toMap(format.jsonSchema().rootElement())));
    }

    /** The name a response gives the model: its file's {@code general.name}, else its architecture. */
    static String modelName(LlamaModel model) {
        return model.metadata().findString("general.name").orElse(model.config().architecture());
    }

    /** LangChain4j's response: the calls, or the text, with the reasoning as its thinking where it came apart. */
    static ChatResponse response(ChatReply reply, String modelName) {
        Generation generation = reply.generation();
        AiMessage.Builder message = AiMessage.builder();
        if (reply.callsTools()) {
            message.toolExecutionRequests(reply.toolCalls().stream()
                    .map(call -> ToolExecutionRequest.builder().id(call.id()).name(call.name()).arguments(call.arguments()).build()).toList());
        } else {
            message.text(reply.text());
        }
        if (!reply.reasoning().isEmpty()) {
            message.thinking(reply.reasoning());
        }
        return ChatResponse.builder()
                .aiMessage(message.build())
                .modelName(modelName)
                .tokenUsage(new TokenUsage(generation.promptIds().length, generation.generatedIds().length))
                .finishReason(reply.callsTools() ? FinishReason.TOOL_EXECUTION : switch (generation.stopReason()) {
                    case END_OF_TURN, STOP_STRING -> FinishReason.STOP;
                    case MAX_TOKENS, CONTEXT_FULL -> FinishReason.LENGTH;
                    case CANCELLED, NO_VALID_TOKEN -> FinishReason.OTHER;
                })
                .build();
    }
}
