package dev.panllama.langchain4j;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.Capability;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.panllama.api.GenerationOptions;
import dev.panllama.api.LlamaModel;

import java.util.Set;

/**
 * A LangChain4j {@link ChatModel} over a panllama model in this process (no HTTP). Request
 * parameters (temperature, top-k, top-p, penalties, the token limit, stop sequences, a JSON response
 * format) override the {@link GenerationOptions} it was made with; tool specifications and the tool
 * choice let the reply call tools ({@link dev.langchain4j.agent.tool.ToolExecutionRequest}s; REQUIRED
 * samples one under the tool's schema). Requests take turns on one facade chat, whose cache
 * keeps the conversation's shared start. Close it (or the model) to free that chat.
 *
 * <pre>{@code
 * try (LlamaModel model = LlamaModel.open(file, ModelOptions.defaults());
 *      PanllamaChatModel chat = new PanllamaChatModel(model, GenerationOptions.defaults())) {
 *     String answer = chat.chat("Name three rivers.");
 * }
 * }</pre>
 */
public final class PanllamaChatModel implements ChatModel, AutoCloseable {

    private final ChatSession session;
    private final String modelName;

    public PanllamaChatModel(LlamaModel model, GenerationOptions defaults) {
        this.session = new ChatSession(model, defaults);
        this.modelName = ChatRequests.modelName(model);
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        return ChatRequests.response(session.reply(request, piece -> { }, thought -> { }, new Cancellation()), modelName);
    }

    /** Structured output: a JSON schema in the response format constrains sampling to documents of that schema. */
    @Override
    public Set<Capability> supportedCapabilities() {
        return Set.of(Capability.RESPONSE_FORMAT_JSON_SCHEMA);
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    @Override
    public void close() {
        session.close();
    }
}
