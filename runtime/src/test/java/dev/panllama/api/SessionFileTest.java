package dev.panllama.api;

import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.chat.Message;
import dev.panllama.eval.KvCacheTypes;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.sampling.SamplingOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sessions saved to disk and loaded into new chats and completions of a model opened again: they
 * continue with the uninterrupted run's greedy tokens without evaluating the saved tokens again, and a
 * file that is truncated, damaged, of another model, of another ggml pin or too large is refused with a
 * message that says so.
 */
class SessionFileTest {

    @TempDir
    static Path temp;
    static Path modelFile;
    static Path otherSeedModel;

    static final ModelOptions OPTIONS = ModelOptions.defaults().withThreads(2).withContextLength(512).withBatchSize(64);
    static final GenerationOptions GREEDY = GenerationOptions.defaults().withSampling(SamplingOptions.greedy()).withMaxTokens(12);

    @BeforeAll
    static void writeModels() throws IOException {
        Path vocabulary = UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf");
        modelFile = temp.resolve("chat.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 3).withTiedOutput(true), vocabulary, modelFile);
        // The same header, tensor for tensor: only the weights' values tell it apart.
        otherSeedModel = temp.resolve("other.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 4).withTiedOutput(true), vocabulary, otherSeedModel);
    }

    @Test
    void aLoadedChatContinuesAsTheUninterruptedOneWithoutEvaluatingItsTokensAgain() throws IOException {
        Path session = temp.resolve("chat.session");
        Generation uninterrupted;
        List<Message> savedMessages;
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS)) {
            try (Chat chat = model.newChat("You are a test.")) {
                chat.send("First question", GREEDY);
                uninterrupted = chat.send("Second question", GREEDY);
            }
            try (Chat chat = model.newChat("You are a test.")) {
                chat.send("First question", GREEDY);
                chat.save(session);
                savedMessages = chat.messages();
            }
        }
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS); Chat chat = model.newChat(null)) {
            int restored = chat.load(session);
            assertEquals(restored, chat.cachedTokens());
            assertEquals(savedMessages, chat.messages());
            Generation resumed = chat.send("Second question", GREEDY);
            assertArrayEquals(uninterrupted.generatedIds(), resumed.generatedIds());
            assertEquals(uninterrupted.text(), resumed.text());
            assertEquals(uninterrupted.promptTokens(), resumed.promptTokens(), "only the new turn is evaluated");
        }
        try (Stream<Path> files = Files.list(temp)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".tmp")), "no temporary file is left");
        }
    }

    @Test
    void aLoadedCompletionEvaluatesOnlyWhatFollowsTheSavedTokens() {
        Path session = temp.resolve("completion.session");
        int[] start = {1, 450, 4996, 17354, 1701, 1000, 2000, 3000};
        int[] longer = {1, 450, 4996, 17354, 1701, 1000, 2000, 3000, 4000, 5000, 6000};
        Generation uninterrupted;
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS)) {
            try (Completion completion = model.newCompletion()) {
                completion.complete(start, GREEDY.withMaxTokens(0), s -> { });
                uninterrupted = completion.complete(longer, GREEDY, s -> { });
            }
            try (Completion completion = model.newCompletion()) {
                completion.complete(start, GREEDY.withMaxTokens(0), s -> { });
                assertArrayEquals(start, completion.cachedIds());
                completion.save(session);
            }
        }
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS); Completion completion = model.newCompletion()) {
            assertEquals(start.length, completion.load(session));
            Generation resumed = completion.complete(longer, GREEDY, s -> { });
            assertEquals(longer.length - start.length, resumed.promptTokens());
            assertEquals(uninterrupted.text(), resumed.text());
        }
    }

    /** A saved session, written once for the refusal tests. */
    private static Path savedSession(String name) {
        Path session = temp.resolve(name);
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS); Chat chat = model.newChat("Terse.")) {
            chat.send("Hello", GREEDY);
            chat.save(session);
        }
        return session;
    }

    private static String refusal(Path session, ModelOptions options, Path model) {
        try (LlamaModel llama = LlamaModel.open(model, options); Chat chat = llama.newChat(null)) {
            SessionFileException error = assertThrows(SessionFileException.class, () -> chat.load(session));
            assertTrue(error.getMessage().startsWith(session.toString()), error.getMessage());
            assertEquals(0, chat.cachedTokens());
            assertEquals(List.of(), chat.messages());
            return error.getMessage();
        }
    }

    @Test
    void damagedTruncatedForeignAndOversizedFilesAreRefused() throws IOException {
        Path session = savedSession("good.session");
        long size = Files.size(session);

        Path truncated = Files.copy(session, temp.resolve("truncated.session"));
        try (FileChannel channel = FileChannel.open(truncated, StandardOpenOption.WRITE)) {
            channel.truncate(size - 1000);
        }
        String message = refusal(truncated, OPTIONS, modelFile);
        assertTrue(message.contains("is truncated: " + (size - 1000) + " of its " + size + " bytes"), message);

        Path flipped = Files.copy(session, temp.resolve("flipped.session"));
        byte[] bytes = Files.readAllBytes(flipped);
        bytes[bytes.length / 2] ^= 0x10;
        Files.write(flipped, bytes);
        message = refusal(flipped, OPTIONS, modelFile);
        assertTrue(message.contains("is damaged"), message);

        Path text = Files.writeString(temp.resolve("notes.txt"), "user\tHello\n");
        message = refusal(text, OPTIONS, modelFile);
        assertTrue(message.contains("is not a panllama session file"), message);

        message = refusal(temp.resolve("missing.session"), OPTIONS, modelFile);
        assertTrue(message.contains("no such file"), message);

        message = refusal(session, OPTIONS, otherSeedModel);
        assertTrue(message.contains("was saved with another model: chat.gguf"), message);

        message = refusal(session, OPTIONS.withContextLength(16), modelFile);
        assertTrue(message.contains("cannot be restored here") && message.contains("context of 16"), message);

        message = refusal(session, OPTIONS.withCacheType(GgmlType.Q8_0), modelFile);
        assertTrue(message.contains("its KV cache is K f16, V f16, this one is K q8_0, V q8_0 (--cache-type f16 restores it)"), message);

        // Keys and values are told apart: the same keys and other values are another cache.
        message = refusal(session, OPTIONS.withCacheTypes(KvCacheTypes.of(GgmlType.F16, GgmlType.Q8_0)), modelFile);
        assertTrue(message.contains("its KV cache is K f16, V f16, this one is K f16, V q8_0 (--cache-type f16 restores it)"), message);
    }

    /**
     * Files of earlier formats are refused by their number, not read as this one: format 1 (one cache type,
     * no tiers' types) and format 2 (a quantized cache's rows unrotated).
     */
    @Test
    void filesOfEarlierFormatsAreRefused() throws IOException {
        Path session = savedSession("earlier-format.session");
        for (int version = 1; version <= 2; version++) {
            byte[] bytes = Files.readAllBytes(session);
            // The version follows the 8-byte magic.
            bytes[8] = 0;
            bytes[9] = 0;
            bytes[10] = 0;
            bytes[11] = (byte) version;
            Path old = Files.write(temp.resolve("format-" + version + ".session"), bytes);
            String message = refusal(old, OPTIONS, modelFile);
            assertTrue(message.contains("is a session file of format " + version + "; this panllama reads formats 3 and " + SessionFile.VERSION),
                    message);
        }
    }

    /** A message's reasoning is saved with it; a file of format 3, whose messages have none, is read as having none. */
    @Test
    void aMessagesReasoningIsSavedAndAFileWithoutAnyIsRead() throws IOException {
        Path session = temp.resolve("reasoned.session");
        List<Message> conversation;
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS); Chat chat = model.newChat("Terse.")) {
            chat.add(Message.user("Capital of Italy?"));
            chat.add(Message.assistant("Rome.").withReasoning("Italy's capital is Rome."));
            chat.send("And France?", GREEDY);
            conversation = chat.messages();
            chat.save(session);
        }
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS); Chat chat = model.newChat(null)) {
            chat.load(session);
            assertEquals(conversation, chat.messages());
        }

        // Format 3: the same file without the messages' reasoning (each an empty string here but the one above).
        Path plain = savedSession("format-3-source.session");
        byte[] current = Files.readAllBytes(plain);
        List<Message> saved = SessionFile.read(plain).messages();
        java.io.ByteArrayOutputStream older = new java.io.ByteArrayOutputStream();
        int at = 0;
        for (Message message : saved) {
            // The message as written: its role and content, each a length and UTF-8 bytes.
            byte[] role = message.role().getBytes(java.nio.charset.StandardCharsets.UTF_8);
            byte[] content = message.content().getBytes(java.nio.charset.StandardCharsets.UTF_8);
            byte[] written = java.nio.ByteBuffer.allocate(8 + role.length + content.length)
                    .putInt(role.length).put(role).putInt(content.length).put(content).array();
            int end = indexOf(current, written, at) + written.length;
            older.write(current, at, end - at);
            assertEquals(0, java.nio.ByteBuffer.wrap(current, end, 4).getInt(), "an empty reasoning follows the content");
            at = end + 4;
        }
        older.write(current, at, current.length - at - 4);
        byte[] bytes = older.toByteArray();
        java.nio.ByteBuffer header = java.nio.ByteBuffer.wrap(bytes);
        header.putInt(8, 3).putLong(12, bytes.length + 4L);
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(bytes);
        Path format3 = Files.write(temp.resolve("format-3.session"),
                java.nio.ByteBuffer.allocate(bytes.length + 4).put(bytes).putInt((int) crc.getValue()).array());
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS); Chat chat = model.newChat(null)) {
            chat.load(format3);
            assertEquals(saved, chat.messages());
            assertTrue(chat.cachedTokens() > 0, "its cache is restored");
        }
    }

    private static int indexOf(byte[] bytes, byte[] part, int from) {
        for (int i = from; i + part.length <= bytes.length; i++) {
            if (java.util.Arrays.equals(bytes, i, i + part.length, part, 0, part.length)) {
                return i;
            }
        }
        throw new AssertionError("not found");
    }

    @Test
    void aFileOfAnotherGgmlPinIsRefused() {
        Path session = savedSession("pinned.session");
        SessionFile.Contents contents = SessionFile.read(session);
        NativePin other = new NativePin(contents.pin().packageName(), "0.0.1", "sha512-other");
        Path foreign = temp.resolve("foreign-pin.session");
        SessionFile.write(foreign, new SessionFile.Contents(other, contents.modelName(), contents.model(), contents.messages(), contents.state()));
        String message = refusal(foreign, OPTIONS, modelFile);
        assertTrue(message.contains("was saved by a panllama pinned to ggml " + other.packageName() + "@0.0.1"), message);
    }

    @Test
    void aFailedSaveLeavesWhatWasThereUntouched() throws IOException {
        Path occupied = Files.createDirectories(temp.resolve("occupied"));
        Path inside = Files.writeString(occupied.resolve("keep.txt"), "mine");
        try (LlamaModel model = LlamaModel.open(modelFile, OPTIONS); Chat chat = model.newChat("Terse.")) {
            chat.send("Hello", GREEDY);
            assertThrows(UncheckedIOException.class, () -> chat.save(occupied));
        }
        assertEquals("mine", Files.readString(inside));
        try (Stream<Path> files = Files.list(temp)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".tmp")), "no temporary file is left");
        }
    }
}
