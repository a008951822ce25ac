package dev.panllama.langchain4j;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import dev.panllama.api.Generation;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;
import dev.panllama.chat.Message;
import dev.panllama.sampling.SamplingOptions;

import java.util.ArrayList;
import java.util.List;

/**
 * Between LangChain4j's chat requests and responses and panllama's facade: messages to the
 * conversation before the user's last message, request parameters over the model's default
 * {@link GenerationOptions}, and a {@link Generation} back to a {@link ChatResponse}. What the facade
 * cannot do yet (tools, JSON output, images) is an {@link UnsupportedFeatureException}.
 */
final class ChatRequests {

    private ChatRequests() {
    }

    /** The conversation before the last message, which must be the user's. */
    static List<Message> history(ChatRequest request) {
        List<ChatMessage> messages = request.messages();
        List<Message> history = new ArrayList<>();
        for (ChatMessage message : messages.subList(0, messages.size() - 1)) {
            history.add(switch (message) {
                case SystemMessage system -> Message.system(system.text());
                case UserMessage user -> Message.user(text(user));
                case AiMessage ai -> {
                    if (ai.hasToolExecutionRequests()) {
                        throw new UnsupportedFeatureException("tool calls are not supported by panllama yet");
                    }
                    yield Message.assistant(ai.text() == null ? "" : ai.text());
                }
                default -> throw new UnsupportedFeatureException(message.type() + " messages are not supported by panllama yet");
            });
        }
        return history;
    }

    /** The user's last message, which the reply answers. */
    static String lastUserText(ChatRequest request) {
        if (!(request.messages().getLast() instanceof UserMessage user)) {
            throw new IllegalArgumentException("the last message must be the user's, not " + request.messages().getLast().type());
        }
        return text(user);
    }

    private static String text(UserMessage user) {
        if (!user.hasSingleText()) {
            throw new UnsupportedFeatureException("only text messages are supported by panllama");
        }
        return user.singleText();
    }

    /** {@code defaults} with what the request's parameters set. */
    static GenerationOptions options(GenerationOptions defaults, ChatRequestParameters parameters) {
        if (parameters.toolSpecifications() != null && !parameters.toolSpecifications().isEmpty()) {
            throw new UnsupportedFeatureException("tools are not supported by panllama yet");
        }
        if (parameters.responseFormat() != null && parameters.responseFormat().type() == ResponseFormatType.JSON) {
            throw new UnsupportedFeatureException("JSON response formats are not supported by panllama yet");
        }
        SamplingOptions s = defaults.sampling();
        SamplingOptions sampling = new SamplingOptions(
                parameters.temperature() != null ? parameters.temperature().floatValue() : s.temperature(),
                parameters.topK() != null ? parameters.topK() : s.topK(),
                parameters.topP() != null ? parameters.topP().floatValue() : s.topP(),
                s.minP(), s.repeatPenalty(), s.repeatLastN(),
                parameters.frequencyPenalty() != null ? parameters.frequencyPenalty().floatValue() : s.frequencyPenalty(),
                parameters.presencePenalty() != null ? parameters.presencePenalty().floatValue() : s.presencePenalty(),
                s.seed());
        return new GenerationOptions(
                parameters.maxOutputTokens() != null ? parameters.maxOutputTokens() : defaults.maxTokens(),
                parameters.stopSequences() != null && !parameters.stopSequences().isEmpty() ? parameters.stopSequences() : defaults.stopStrings(),
                sampling);
    }

    /** The name a response gives the model: its file's {@code general.name}, else its architecture. */
    static String modelName(LlamaModel model) {
        return model.metadata().findString("general.name").orElse(model.config().architecture());
    }

    static ChatResponse response(Generation generation, String modelName) {
        return ChatResponse.builder()
                .aiMessage(AiMessage.from(generation.text()))
                .modelName(modelName)
                .tokenUsage(new TokenUsage(generation.promptIds().length, generation.generatedIds().length))
                .finishReason(switch (generation.stopReason()) {
                    case END_OF_TURN, STOP_STRING -> FinishReason.STOP;
                    case MAX_TOKENS, CONTEXT_FULL -> FinishReason.LENGTH;
                    case CANCELLED, NO_VALID_TOKEN -> FinishReason.OTHER;
                })
                .build();
    }
}
