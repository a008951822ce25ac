package dev.panllama.server;

import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.AuthenticationException;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.ModelNotFoundException;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** LangChain4j's OpenAI module, pointed at the server, as an application would use it. */
class LangChain4jOpenAiClientTest extends ClientComparison {

    static final String KEY = "sesame";
    static final List<ChatMessage> MESSAGES = List.of(SystemMessage.from(TestModel.SYSTEM), UserMessage.from(TestModel.USER));

    static OpenAiServer start() {
        return start(KEY);
    }

    static OpenAiChatModel.OpenAiChatModelBuilder chatModel(OpenAiServer server) {
        return OpenAiChatModel.builder().baseUrl("http://127.0.0.1:" + server.port() + "/v1").apiKey(KEY).modelName(TestModel.ID)
                .temperature(0.0).maxTokens(TestModel.REPLY_TOKENS).maxRetries(0);
    }

    @Test
    void greedyChatEqualsTheFacade() {
        try (OpenAiServer server = start()) {
            ChatResponse response = chatModel(server).build().chat(MESSAGES);
            assertEquals(expected, response.aiMessage().text());
            assertTrue(response.tokenUsage().inputTokenCount() > 0);
            assertTrue(response.tokenUsage().outputTokenCount() <= TestModel.REPLY_TOKENS);
            assertEquals(TestModel.ID, response.modelName());
        }
    }

    @Test
    void streamedGreedyChatEqualsTheFacade() throws Exception {
        try (OpenAiServer server = start()) {
            OpenAiStreamingChatModel streaming = OpenAiStreamingChatModel.builder().baseUrl("http://127.0.0.1:" + server.port() + "/v1")
                    .apiKey(KEY).modelName(TestModel.ID).temperature(0.0).maxTokens(TestModel.REPLY_TOKENS).build();
            StreamedReply reply = StreamedReply.ofText();
            streaming.chat(MESSAGES, reply);
            ChatResponse response = reply.response();
            assertEquals(expected, reply.partials());
            assertEquals(expected, response.aiMessage().text());
            assertTrue(response.tokenUsage().outputTokenCount() > 0, "usage reaches the client: " + response.tokenUsage());
        }
    }

    @Test
    void errorsReachTheClientAsLangChain4jsExceptions() {
        try (OpenAiServer server = start()) {
            assertThrows(AuthenticationException.class, () -> chatModel(server).apiKey("wrong").build().chat(MESSAGES));
            assertThrows(ModelNotFoundException.class, () -> chatModel(server).modelName("gpt-4o").build().chat(MESSAGES));
            InvalidRequestException tooLong = assertThrows(InvalidRequestException.class,
                    () -> chatModel(server).build().chat(UserMessage.from("word ".repeat(TestModel.CONTEXT))));
            assertTrue(tooLong.getMessage().contains("context_length_exceeded"), tooLong.getMessage());
        }
    }
}
