package dev.panllama.chat;

import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Tools in prompts and calls read from replies, with the built-in formats and Meta's own Llama 3.1 template. */
class ToolCallFormatTest {

    static final Tool WEATHER = new Tool("get_weather", "The weather in a city",
            "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\"}},\"required\":[\"city\"]}");
    static final Tool TIME = new Tool("get_time", "The time now", null);
    static final List<Tool> TOOLS = List.of(WEATHER, TIME);

    @Test
    void aReplyIsACallOnlyWhenItIsOneJsonObjectNamingATool() {
        ToolCall call = ToolCallFormat.parse(" {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\", \"days\": 3}}\n", TOOLS).getFirst();
        assertEquals("get_weather", call.name());
        assertEquals("{\"city\":\"Oslo\",\"days\":3}", call.arguments());
        assertTrue(call.id().matches("call_[0-9a-f]{24}"), call.id());
        assertEquals("{}", ToolCallFormat.parse("{\"name\":\"get_time\"}", TOOLS).getFirst().arguments());
        assertEquals("{\"x\":1.5}", ToolCallFormat.parse("{\"name\":\"get_time\",\"arguments\":{\"x\":1.5}}", TOOLS).getFirst().arguments());
        assertEquals("{}", ToolCallFormat.parse("<|python_start|>{\"name\":\"get_time\",\"parameters\":{}}<|python_end|>", TOOLS)
                .getFirst().arguments(), "Llama 4's wrapper");
        assertEquals("{}", ToolCallFormat.parse("<|python_tag|>{\"name\":\"get_time\"}", TOOLS).getFirst().arguments(), "Llama 3.1's");
        List<ToolCall> two = ToolCallFormat.parse("<|python_start|><|python_end|>{\"name\":\"get_weather\",\"parameters\":{\"city\":\"a}{\\\"\"}}\n"
                + "{\"name\":\"get_time\",\"parameters\":{}};", TOOLS);
        assertEquals(List.of("get_weather", "get_time"), two.stream().map(ToolCall::name).toList(), "calls one after another");
        assertEquals("{\"city\":\"a}{\\\"\"}", two.getFirst().arguments(), "braces and quotes inside strings");
        assertTrue(ToolCallFormat.parse("{\"name\":\"get_time\"} {\"name\":\"get_news\"}", TOOLS).isEmpty(), "one of them no call");
        for (String notACall : List.of("<|python_start|>get_time()<|python_end|>", "It is sunny.", "{\"name\": \"get_news\", \"parameters\": {}}", "{\"name\": \"get_time\", \"parameters\": 3}",
                "{\"name\": \"get_time\"} and more", "[{\"name\": \"get_time\"}]", "{\"name\": \"get_we")) {
            assertEquals(List.of(), ToolCallFormat.parse(notACall, TOOLS), notACall);
        }
    }

    @Test
    void theChoiceDecidesWhatMayBeACallAndWhatMustBe() {
        String reply = "{\"name\": \"get_time\", \"parameters\": {}}";
        assertEquals(1, ToolUse.auto(TOOLS).callsIn(reply).size());
        assertTrue(ToolUse.NONE.callsIn(reply).isEmpty());
        assertTrue(ToolUse.function(TOOLS, "get_weather").callsIn(reply).isEmpty(), "a call of another tool than the one named");
        assertEquals(List.of(), new ToolUse(TOOLS, ToolUse.Choice.NONE, null).offered());
        assertEquals(null, ToolUse.auto(TOOLS).requiredCall());

        assertTrue(ToolUse.required(TOOLS).requiredCall().accepts("{\"name\":\"get_weather\",\"parameters\":{\"city\":\"Oslo\"}}"));
        assertTrue(ToolUse.required(TOOLS).requiredCall().accepts("{\"name\":\"get_time\",\"parameters\":{}}"));
        assertFalse(ToolUse.required(TOOLS).requiredCall().accepts("{\"name\":\"get_weather\",\"parameters\":{}}"), "city is required");
        assertFalse(ToolUse.function(TOOLS, "get_time").requiredCall().acceptsPrefix("{\"name\":\"get_w"));

        assertTrue(ToolUse.auto(TOOLS).mayBeCall("  \n"));
        assertTrue(ToolUse.auto(TOOLS).mayBeCall(" {\"na"));
        assertFalse(ToolUse.auto(TOOLS).mayBeCall("Hello"));
        assertTrue(ToolUse.auto(TOOLS).mayBeCall("<|python_st"));
        assertTrue(ToolUse.auto(TOOLS).mayBeCall("<|python_start|> {"));
        assertFalse(ToolUse.auto(TOOLS).mayBeCall("<|python_start|>get"));
        assertFalse(ToolUse.auto(TOOLS).mayBeCall("<b>"));
        assertFalse(ToolUse.NONE.mayBeCall(""));
    }

    @Test
    void badToolsAndChoicesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Tool("get weather", "", null));
        assertThrows(IllegalArgumentException.class, () -> new Tool("f", "", "[1]"));
        assertThrows(IllegalArgumentException.class, () -> ToolUse.auto(List.of(TIME, TIME)));
        assertThrows(IllegalArgumentException.class, () -> ToolUse.required(List.of()));
        assertThrows(IllegalArgumentException.class, () -> ToolUse.function(TOOLS, "get_news"));
        Tool patterned = new Tool("f", "", "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"x+\"}}}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ToolUse.required(List.of(patterned)).requiredCall());
        assertTrue(e.getMessage().contains("pattern"), e.getMessage());
    }

    @Test
    void aBuiltInFormatDescribesTheToolsInTheSystemMessageAndWritesCallsAndResultsBack() {
        ToolCall call = new ToolCall("call_1", "get_weather", "{\"city\":\"Oslo\"}");
        List<Message> conversation = List.of(Message.system("Be kind."), Message.user("Weather?"),
                Message.assistant("", List.of(call)), Message.tool("call_1", "Rain, 4 C"));
        String prompt = new ChatFormat.Llama4().render(conversation, TOOLS, true);
        String system = "<|header_start|>system<|header_end|>\n\nBe kind.\n\n" + ToolCallFormat.instructions(TOOLS) + "<|eot|>";
        assertEquals(system
                + "<|header_start|>user<|header_end|>\n\nWeather?<|eot|>"
                + "<|header_start|>assistant<|header_end|>\n\n{\"name\":\"get_weather\",\"parameters\":{\"city\":\"Oslo\"}}<|eot|>"
                + "<|header_start|>ipython<|header_end|>\n\nRain, 4 C<|eot|>"
                + "<|header_start|>assistant<|header_end|>\n\n", prompt);
        assertTrue(system.contains("{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"The weather in a city\""), system);
        assertTrue(new ChatFormat.ChatMl().render(List.of(Message.user("Hi")), TOOLS, true).startsWith("<|im_start|>system\nYou may call"));
        // Without tools offered, the calls in the conversation are still written back.
        assertTrue(new ChatFormat.Llama4().render(conversation, List.of(), true).contains("Be kind.<|eot|>"));
    }

    static JinjaChatFormat llama31() throws IOException {
        String template = Files.readString(UserCache.user().source(NativePin.current())
                .resolve("models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja"));
        return new JinjaChatFormat(template, "<|begin_of_text|>", "<|eot_id|>");
    }

    /**
     * Without tools, as Python's Jinja renders it (trim_blocks and lstrip_blocks, as Hugging Face sets them): not a stray space or
     * line. Today's date is the template's {@code date_string}, as llama.cpp gives it.
     */
    @Test
    void metasLlama31TemplateRendersAConversationAsJinjaDoes() throws IOException {
        String today = LocalDate.now().format(DateTimeFormatter.ofPattern("dd MMM yyyy", Locale.ROOT));
        assertEquals("<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: " + today + "\n\n"
                        + "Be kind.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
                        + "<|start_header_id|>assistant<|end_header_id|>\n\n",
                llama31().render(List.of(Message.system("Be kind."), Message.user("Hi!")), true));
    }

    @Test
    void metasLlama31TemplateTakesTheToolsTheCallsAndTheResults() throws IOException {
        JinjaChatFormat format = llama31();
        ToolCall call = new ToolCall("call_1", "get_weather", "{\"city\":\"Oslo\",\"days\":2}");
        String prompt = format.render(List.of(Message.system("Be kind."), Message.user("Weather?"),
                Message.assistant("", List.of(call)), Message.tool("call_1", "Rain, 4 C")), TOOLS, true);
        assertTrue(prompt.startsWith("<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n"), prompt);
        // The template's own words for the tools, in the first user message, with each tool as JSON.
        assertTrue(prompt.contains("<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions"), prompt);
        assertTrue(prompt.contains("{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\","), prompt);
        assertTrue(prompt.contains("Weather?<|eot_id|>"), prompt);
        assertTrue(prompt.contains("<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": "), prompt);
        assertTrue(prompt.contains("{\"city\": \"Oslo\", \"days\": 2}}<|eot_id|>"), "as json.dumps writes it, whole numbers whole: " + prompt);
        // A text result is written with tojson, quoted: it is iterable in Python's Jinja.
        assertTrue(prompt.endsWith("<|start_header_id|>ipython<|end_header_id|>\n\n\"Rain, 4 C\"<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n"), prompt);
        String parsedBack = prompt.substring(prompt.indexOf("{\"name\": \"get_weather\", \"parameters\": "));
        parsedBack = parsedBack.substring(0, parsedBack.indexOf("<|eot_id|>"));
        assertEquals("{\"city\":\"Oslo\",\"days\":2}", ToolCallFormat.parse(parsedBack, TOOLS).getFirst().arguments(),
                "the template writes a call in the format panllama reads");
    }
}
