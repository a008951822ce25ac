package dev.panllama.server;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.panllama.chat.ToolCall;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** What the tests of LangChain4j's models over each of the server's APIs check alike. */
final class LangChain4jModels {

    private LangChain4jModels() {
    }

    /**
     * {@code whole} and {@code streaming} get the facade's greedy reply to {@link TestModel}'s conversation
     * ({@code expected}, streamed piece by piece too), and the facade's required call for
     * {@link ToolCallServingTest}'s question and tools ({@code expectedCall}, streamed as no text).
     */
    static void assertFacadesTextAndCall(ChatModel whole, StreamingChatModel streaming, String expected, ToolCall expectedCall)
            throws Exception {
        ChatRequest text = ChatRequest.builder().messages(SystemMessage.from(TestModel.SYSTEM), UserMessage.from(TestModel.USER))
                .temperature(0.0).maxOutputTokens(TestModel.REPLY_TOKENS).build();
        assertEquals(expected, whole.chat(text).aiMessage().text());
        StreamedReply reply = StreamedReply.ofText();
        streaming.chat(text, reply);
        assertEquals(expected, reply.response().aiMessage().text());
        assertEquals(expected, reply.partials());

        ChatRequest call = ChatRequest.builder().messages(SystemMessage.from(TestModel.SYSTEM), UserMessage.from(ToolCallServingTest.USER))
                .toolSpecifications(ToolCallServingTest.TOOLS.stream().map(ToolCallServingTest::specification).toList())
                .toolChoice(ToolChoice.REQUIRED).temperature(0.0).maxOutputTokens(ToolCallServingTest.CALL_TOKENS).build();
        ChatResponse called = whole.chat(call);
        assertEquals(FinishReason.TOOL_EXECUTION, called.finishReason());
        ToolExecutionRequest request = called.aiMessage().toolExecutionRequests().getFirst();
        ToolCallServingTest.assertSameCall(expectedCall, request.name(), request.arguments());
        StreamedReply streamedCall = StreamedReply.withoutText();
        streaming.chat(call, streamedCall);
        ToolExecutionRequest streamedRequest = streamedCall.response().aiMessage().toolExecutionRequests().getFirst();
        ToolCallServingTest.assertSameCall(expectedCall, streamedRequest.name(), streamedRequest.arguments());
    }
}
