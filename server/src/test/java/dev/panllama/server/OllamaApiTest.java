package dev.panllama.server;

import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.ollama.OllamaChatModel;
import dev.langchain4j.model.ollama.OllamaModel;
import dev.langchain4j.model.ollama.OllamaModelCard;
import dev.langchain4j.model.ollama.OllamaModels;
import dev.langchain4j.model.ollama.OllamaStreamingChatModel;
import dev.langchain4j.model.ollama.RunningOllamaModel;
import dev.panllama.api.PanllamaVersion;
import dev.panllama.json.JsonWriter;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;

import static dev.panllama.server.OpenAiServerTest.json;
import static dev.panllama.server.OpenAiServerTest.post;
import static dev.panllama.server.OpenAiServerTest.send;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Ollama's API, driven by LangChain4j's Ollama module and by Ollama's own requests, against the facade's answers. */
class OllamaApiTest extends ClientComparison {

    static final List<ChatMessage> MESSAGES = List.of(SystemMessage.from(TestModel.SYSTEM), UserMessage.from(TestModel.USER));
    static final Map<String, Object> GREEDY = Map.of("temperature", 0, "num_predict", TestModel.REPLY_TOKENS);

    static OpenAiServer start() {
        return start(null);
    }

    static String baseUrl(OpenAiServer server) {
        return "http://127.0.0.1:" + server.port();
    }

    @Test
    void greedyChatThroughLangChain4jsOllamaModuleEqualsTheFacade() {
        try (OpenAiServer server = start()) {
            OllamaChatModel chat = OllamaChatModel.builder().baseUrl(baseUrl(server)).modelName(TestModel.ID).temperature(0.0)
                    .numPredict(TestModel.REPLY_TOKENS).maxRetries(0).build();
            ChatResponse response = chat.chat(MESSAGES);
            assertEquals(expected, response.aiMessage().text());
            assertTrue(response.tokenUsage().inputTokenCount() > 0, response.tokenUsage().toString());
            assertEquals(TestModel.REPLY_TOKENS, response.tokenUsage().outputTokenCount());
        }
    }

    @Test
    void streamedGreedyChatThroughLangChain4jsOllamaModuleEqualsTheFacade() throws Exception {
        try (OpenAiServer server = start()) {
            OllamaStreamingChatModel streaming = OllamaStreamingChatModel.builder().baseUrl(baseUrl(server)).modelName(TestModel.ID)
                    .temperature(0.0).numPredict(TestModel.REPLY_TOKENS).build();
            StreamedReply reply = StreamedReply.ofText();
            streaming.chat(MESSAGES, reply);
            ChatResponse response = reply.response();
            assertEquals(expected, reply.partials());
            assertEquals(expected, response.aiMessage().text());
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void ollamasRequestsGetOllamasReplies() throws Exception {
        List<Map<String, Object>> messages = List.of(Map.of("role", "system", "content", TestModel.SYSTEM),
                Map.of("role", "user", "content", TestModel.USER));
        try (OpenAiServer server = start()) {
            // Streamed unless told not to: a JSON object a line, the last one done, with the counts.
            String stream = post(server, "/api/chat", JsonWriter.write(Map.of("model", TestModel.ID + ":latest", "messages", messages,
                    "options", GREEDY))).body();
            List<Map<String, Object>> lines = stream.lines().map(OpenAiServerTest::json).toList();
            StringBuilder text = new StringBuilder();
            for (Map<String, Object> line : lines.subList(0, lines.size() - 1)) {
                assertEquals(false, line.get("done"), stream);
                text.append(((Map<String, Object>) line.get("message")).get("content"));
            }
            assertEquals(expected, text.toString());
            Map<String, Object> last = lines.getLast();
            assertEquals(true, last.get("done"), stream);
            assertEquals("length", last.get("done_reason"), stream);
            assertEquals((double) TestModel.REPLY_TOKENS, last.get("eval_count"), stream);
            assertTrue(((Number) last.get("prompt_eval_count")).intValue() > 0 && ((Number) last.get("total_duration")).longValue() > 0, stream);

            // /api/generate applies the chat template to its system and prompt, as Ollama does.
            Map<String, Object> generated = json(post(server, "/api/generate", JsonWriter.write(Map.of("model", TestModel.ID,
                    "system", TestModel.SYSTEM, "prompt", TestModel.USER, "stream", false, "options", GREEDY))).body());
            assertEquals(expected, generated.get("response"), generated.toString());
            // raw: the prompt as is, as a text completion reads it.
            Map<String, Object> raw = json(post(server, "/api/generate", JsonWriter.write(Map.of("model", TestModel.ID,
                    "prompt", "Once upon a time", "raw", true, "stream", false, "options", Map.of("temperature", 0, "num_predict", 5)))).body());
            Map<String, Object> completion = json(post(server, "/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 5,"
                    + " \"temperature\": 0}").body());
            assertEquals(((List<Map<String, Object>>) completion.get("choices")).getFirst().get("text"), raw.get("response"), raw.toString());

            Map<String, Object> listed = ((List<Map<String, Object>>) json(send(server, "GET", "/api/tags", null, null).body()).get("models"))
                    .getFirst();
            assertEquals(TestModel.ID, listed.get("name"));
            assertEquals((double) Files.size(temp.resolve("served-q8_0.gguf")), listed.get("size"));
            Map<String, Object> shown = json(post(server, "/api/show", "{\"model\": \"" + TestModel.ID + "\"}").body());
            assertEquals("llama4", ((Map<String, Object>) shown.get("details")).get("family"));
        }
    }

    @Test
    void langChain4jsOllamaModelsListsShowsAndFindsTheServedModelRunning() throws Exception {
        try (OpenAiServer server = start()) {
            OllamaModels models = OllamaModels.builder().baseUrl(baseUrl(server)).maxRetries(0).build();
            OllamaModel available = models.availableModels().content().getFirst();
            assertEquals(TestModel.ID, available.getName());
            assertEquals(model.fingerprint().sha256(), available.getDigest());
            assertEquals(Files.size(temp.resolve("served-q8_0.gguf")), available.getSize());

            OllamaModelCard card = models.modelCard(available).content();
            assertEquals(model.chatTemplate().orElse(""), card.getTemplate());
            assertEquals(model.contextLength(), ((Number) card.getModelInfo().get("llama4.context_length")).intValue());

            // On the CPU alone: nothing in GPU memory, and the model's size is its file's.
            RunningOllamaModel running = models.runningModels().content().getFirst();
            assertEquals(TestModel.ID, running.getName());
            assertEquals(available.getSize(), running.getSize());
            assertEquals(0L, running.getSizeVram());
            assertEquals(model.contextLength(), running.getContextLength());
            assertEquals(available.getDigest(), running.getDigest());
        }
    }

    @Test
    void theVersionIsPanllamasAndAnswersWithoutTheKey() throws Exception {
        try (OpenAiServer server = start("secret")) {
            java.net.http.HttpResponse<String> version = send(server, "GET", "/api/version", null, null);
            assertEquals(200, version.statusCode(), version.body());
            assertEquals(Map.of("version", PanllamaVersion.current()), json(version.body()));
            assertTrue(PanllamaVersion.current().matches("\\d+\\.\\d+\\.\\d+.*"), PanllamaVersion.current());
            assertOllamaError(send(server, "GET", "/api/ps", null, null), 401);
            assertEquals(200, send(server, "GET", "/api/ps", null, "secret").statusCode());
        }
    }

    @Test
    void refusalsAreOllamasErrorsAndTheServerGoesOn() throws Exception {
        try (OpenAiServer server = start()) {
            assertOllamaError(post(server, "/api/chat", "{\"model\": \"llama3\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}"), 404);
            assertOllamaError(post(server, "/api/chat", "{\"model\": \"" + TestModel.ID + "\", \"messages\": [{\"role\": \"user\","
                    + " \"content\": \"Hi\", \"images\": [\"aGk=\"]}]}"), 400);
            assertOllamaError(post(server, "/api/chat", "{\"model\": \"" + TestModel.ID + "\", \"think\": true, \"messages\": []}"), 400);
            assertOllamaError(post(server, "/api/chat", "{\"model\": \"" + TestModel.ID + "\", \"messages\": [{\"role\": \"user\","
                    + " \"content\": \"Hi\"}], \"options\": {\"temperature\": \"hot\"}}"), 400);
            assertOllamaError(post(server, "/api/generate", "{\"model\": \"" + TestModel.ID + "\", \"prompt\": \"Hi\", \"format\": 5}"), 400);
            assertOllamaError(post(server, "/api/generate", "{\"model\": "), 400);
            assertOllamaError(send(server, "GET", "/api/chat", null, null), 405);
            assertEquals(200, post(server, "/api/generate", "{\"model\": \"" + TestModel.ID + "\", \"prompt\": \"Hi\", \"stream\": false,"
                    + " \"options\": {\"num_predict\": 2}}").statusCode());
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void aToolCallsArgumentsAndItsResultGoBackAsOpenAisWould() throws Exception {
        String conversation = "{\"model\": \"" + TestModel.ID + "\", \"stream\": false, \"options\": {\"num_predict\": 2},"
                + " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"weather\", \"parameters\": {\"type\": \"object\","
                + " \"properties\": {\"city\": {\"type\": \"string\"}}}}}],"
                + " \"messages\": [{\"role\": \"user\", \"content\": \"Weather in Paris?\"},"
                + " {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"function\": {\"name\": \"weather\", \"arguments\": {\"city\": \"Paris\"}}}]},"
                + " {\"role\": \"tool\", \"content\": \"Sunny\", \"tool_name\": \"weather\"}]}";
        RequestFields asOpenAi = OllamaRequests.chat(RequestFields.parse(conversation.getBytes(StandardCharsets.UTF_8)), TestModel.ID);
        List<Map<String, Object>> messages = (List<Map<String, Object>>) asOpenAi.raw("messages");
        Map<String, Object> call = ((List<Map<String, Object>>) messages.get(1).get("tool_calls")).getFirst();
        assertEquals("{\"city\":\"Paris\"}", ((Map<String, Object>) call.get("function")).get("arguments"));
        assertEquals(call.get("id"), messages.get(2).get("tool_call_id"));
        assertEquals(2L, asOpenAi.raw("n_predict"));
        try (OpenAiServer server = start()) {
            assertEquals(200, post(server, "/api/chat", conversation).statusCode());
        }
    }

    /** {@code think}: true, false, or a level (gpt-oss's reasoning effort), which thinks too; anything else is refused. */
    @Test
    @SuppressWarnings("unchecked")
    void thinkLevelsAreReasoningEfforts() throws Exception {
        for (String level : List.of("high", "medium", "low")) {
            RequestFields asOpenAi = OllamaRequests.chat(RequestFields.parse(("{\"model\": \"" + TestModel.ID + "\", \"think\": \"" + level
                    + "\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}").getBytes(StandardCharsets.UTF_8)), TestModel.ID);
            assertEquals(level, asOpenAi.raw("reasoning_effort"));
            assertEquals("deepseek", asOpenAi.raw("reasoning_format"), "the reasoning goes apart, as with think: true");
            assertEquals(true, ((Map<String, Object>) asOpenAi.raw("chat_template_kwargs")).get("enable_thinking"));
        }
        RequestFields off = OllamaRequests.chat(RequestFields.parse(("{\"model\": \"" + TestModel.ID + "\", \"think\": false,"
                + " \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}").getBytes(StandardCharsets.UTF_8)), TestModel.ID);
        assertEquals(null, off.raw("reasoning_effort"));
        assertEquals(false, ((Map<String, Object>) off.raw("chat_template_kwargs")).get("enable_thinking"));
        try (OpenAiServer server = start()) {
            HttpResponse<String> unknown = post(server, "/api/chat", "{\"model\": \"" + TestModel.ID + "\", \"think\": \"maximal\","
                    + " \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}");
            assertOllamaError(unknown, 400);
            assertTrue(unknown.body().contains("invalid think value"), unknown.body());
            // The test model's template writes no reasoning: a level asks for it as true does.
            assertOllamaError(post(server, "/api/chat", "{\"model\": \"" + TestModel.ID + "\", \"think\": \"low\", \"messages\": []}"), 400);
        }
    }

    @Test
    void aStreamingClientThatLeavesCancelsItsGeneration() throws Exception {
        try (OpenAiServer server = start()) {
            String endless = "{\"model\": \"" + TestModel.ID + "\", \"messages\": [{\"role\": \"user\", \"content\": \"Tell me a long story.\"}],"
                    + " \"options\": {\"temperature\": 1.5, \"seed\": 1, \"stop\": [\"<never>\"]}}";
            try (Socket socket = OpenAiServerTest.postOverSocket(server, "/api/chat", endless)) {
                BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
                int lines = 0;
                for (String line = in.readLine(); line != null && lines < 3; line = in.readLine()) {
                    if (line.startsWith("{\"model\"")) {
                        lines++;
                    }
                }
                assertEquals(3, lines);
            }
            String metrics = OpenAiServerTest.awaitIdle(server);
            double generated = OpenAiServerTest.metric(metrics, "panllama_generated_tokens_total");
            assertTrue(generated > 0 && generated < TestModel.CONTEXT / 4.0, "generated " + generated + " tokens after the client left");
            assertTrue(metrics.contains("panllama_requests_total{endpoint=\"/api/chat\",status=\"499\"} 1"), metrics);
        }
    }

    private static void assertOllamaError(java.net.http.HttpResponse<String> response, int status) {
        assertEquals(status, response.statusCode(), response.body());
        Map<String, Object> body = json(response.body());
        assertEquals(List.of("error"), List.copyOf(body.keySet()), response.body());
        assertTrue(body.get("error") instanceof String message && !message.isBlank(), response.body());
    }
}
