package dev.panllama.api;

import dev.panllama.bindings.NativePin;
import dev.panllama.chat.Message;
import dev.panllama.eval.KvCacheTypes;
import dev.panllama.eval.SequenceState;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufFingerprint;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * A saved session on disk: a sequence's KV cache state ({@link SequenceState}), the messages of the chat
 * it holds, and what it was made with (the ggml pin, the model file's fingerprint), so that a later
 * process refuses it rather than continue from another model's keys.
 *
 * <p>Layout, big-endian: the magic {@code PLSESSN1}, the format version, the file's total length (so a
 * truncated file is told from a damaged one); the pin's package, version and integrity; the model file's
 * name, size and SHA-256 fingerprint; the messages (role, content, reasoning); the cache's types (keys, values, and
 * the host tier's keys and values), row width, chunk size and layer count; the tokens; the global and
 * chunked layers' cells (count, head, then cell and position pairs); per layer its first host-tier cell
 * (from which its rows are of the host tier's types) and its key and value rows; last, a CRC-32C of
 * everything before it. Format 1, of one cache type and no tiers' types, and format 2, whose quantized
 * caches hold their rows unrotated (format 3's are rotated as llama.cpp's, see {@code HeadRotation}), are
 * refused by their number; format 3, whose messages have no reasoning, is read as having none. Strings are
 * a length and UTF-8 bytes. It is written to a temporary file beside the target and moved over it, so an
 * existing file is replaced only by a complete one.
 */
final class SessionFile {

    private static final byte[] MAGIC = "PLSESSN1".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 4;
    /** The format before messages kept their reasoning, read still. */
    private static final int WITHOUT_REASONING = 3;
    /** Magic, version and total length: what is read before the rest can be trusted. */
    private static final int HEADER_BYTES = 8 + 4 + 8;

    /** What a session file holds. */
    record Contents(NativePin pin, String modelName, GgufFingerprint model, List<Message> messages, SequenceState state) {
        Contents {
            messages = List.copyOf(messages);
            // The file keeps a role and a text a message; a tool call or result would come back as something else.
            if (messages.stream().anyMatch(m -> m.callsTools() || m.toolCallId() != null)) {
                throw new IllegalArgumentException("a conversation with tool calls cannot be saved to a session file");
            }
        }
    }

    private SessionFile() {
    }

    /** Writes {@code contents} to {@code file} atomically: a temporary file in the same folder, then a move. */
    static void write(Path file, Contents contents) {
        Path target = file.toAbsolutePath();
        Path temp = null;
        try {
            Files.createDirectories(target.getParent());
            temp = Files.createTempFile(target.getParent(), "." + target.getFileName(), ".tmp");
            long total = encodedBytes(contents);
            CRC32C crc = new CRC32C();
            try (OutputStream raw = Files.newOutputStream(temp);
                 DataOutputStream out = new DataOutputStream(new CheckedOutputStream(new BufferedOutputStream(raw, 1 << 16), crc))) {
                out.write(MAGIC);
                out.writeInt(VERSION);
                out.writeLong(total);
                writeBody(out, contents);
                out.flush();
                out.writeInt((int) crc.getValue());
            }
            if (Files.size(temp) != total) {
                throw new IllegalStateException("wrote " + Files.size(temp) + " bytes of a session of " + total);
            }
            try {
                Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            deleteQuietly(temp);
            throw new UncheckedIOException("cannot save the session to " + file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            deleteQuietly(temp);
            throw e;
        }
    }

    private static void deleteQuietly(Path temp) {
        if (temp != null) {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // the temporary file stays behind; the target is untouched either way
            }
        }
    }

    private static void writeBody(DataOutputStream out, Contents contents) throws IOException {
        writeString(out, contents.pin().packageName());
        writeString(out, contents.pin().version());
        writeString(out, contents.pin().integrity());
        writeString(out, contents.modelName());
        out.writeLong(contents.model().bytes());
        writeString(out, contents.model().sha256());
        out.writeInt(contents.messages().size());
        for (Message message : contents.messages()) {
            writeString(out, message.role());
            writeString(out, message.content());
            writeString(out, message.reasoning());
        }
        SequenceState state = contents.state();
        KvCacheTypes types = state.types();
        for (GgmlType type : List.of(types.keys(), types.values(), types.hostKeys(), types.hostValues())) {
            writeString(out, type.name());
        }
        out.writeLong(state.width());
        out.writeInt(state.chunkSize());
        out.writeInt(state.layers());
        out.writeInt(state.tokens().length);
        for (int token : state.tokens()) {
            out.writeInt(token);
        }
        writeLayout(out, state.global());
        writeLayout(out, state.chunked());
        for (int layer = 0; layer < state.layers(); layer++) {
            out.writeInt(state.firstHostCell()[layer]);
            writeBytes(out, state.keys()[layer]);
            writeBytes(out, state.values()[layer]);
        }
    }

    private static void writeLayout(DataOutputStream out, SequenceState.CellLayout layout) throws IOException {
        out.writeInt(layout.cellCount());
        out.writeInt(layout.head());
        out.writeInt(layout.cells().length);
        for (int i = 0; i < layout.cells().length; i++) {
            out.writeInt(layout.cells()[i]);
            out.writeLong(layout.positions()[i]);
        }
    }

    private static void writeString(DataOutputStream out, String text) throws IOException {
        writeBytes(out, text.getBytes(StandardCharsets.UTF_8));
    }

    private static void writeBytes(DataOutputStream out, byte[] bytes) throws IOException {
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    /** The length {@link #write} gives the file, counted as it writes: header, body and checksum. */
    private static long encodedBytes(Contents contents) {
        long bytes = HEADER_BYTES;
        bytes += stringBytes(contents.pin().packageName()) + stringBytes(contents.pin().version()) + stringBytes(contents.pin().integrity());
        bytes += stringBytes(contents.modelName()) + 8 + stringBytes(contents.model().sha256());
        bytes += 4;
        for (Message message : contents.messages()) {
            bytes += stringBytes(message.role()) + stringBytes(message.content()) + stringBytes(message.reasoning());
        }
        SequenceState state = contents.state();
        KvCacheTypes types = state.types();
        bytes += stringBytes(types.keys().name()) + stringBytes(types.values().name()) + stringBytes(types.hostKeys().name())
                + stringBytes(types.hostValues().name()) + 8 + 4 + 4;
        bytes += 4 + 4L * state.tokens().length;
        bytes += layoutBytes(state.global()) + layoutBytes(state.chunked());
        for (int layer = 0; layer < state.layers(); layer++) {
            bytes += 4 + 4 + state.keys()[layer].length + 4 + state.values()[layer].length;
        }
        return bytes + 4;
    }

    private static long stringBytes(String text) {
        return 4 + text.getBytes(StandardCharsets.UTF_8).length;
    }

    private static long layoutBytes(SequenceState.CellLayout layout) {
        return 4 + 4 + 4 + 12L * layout.cells().length;
    }

    /**
     * Reads {@code file} whole and checks it is a complete, undamaged session file of this format;
     * whether it suits a model is {@link #requireMadeFor}'s question.
     *
     * @throws SessionFileException when it is missing, not a session file, truncated or damaged
     */
    static Contents read(Path file) {
        long size;
        try {
            size = Files.size(file);
        } catch (NoSuchFileException e) {
            throw new SessionFileException(file + ": no such file");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        CRC32C crc = new CRC32C();
        try (InputStream raw = Files.newInputStream(file);
             DataInputStream in = new DataInputStream(new CheckedInputStream(new BufferedInputStream(raw, 1 << 16), crc))) {
            byte[] magic = new byte[MAGIC.length];
            if (size < HEADER_BYTES) {
                throw notASession(file, size);
            }
            in.readFully(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw notASession(file, size);
            }
            int version = in.readInt();
            if (version != VERSION && version != WITHOUT_REASONING) {
                throw new SessionFileException(file + " is a session file of format " + version + "; this panllama reads formats "
                        + WITHOUT_REASONING + " and " + VERSION);
            }
            long total = in.readLong();
            if (size < total) {
                throw new SessionFileException(file + " is truncated: " + size + " of its " + total + " bytes");
            }
            if (size > total) {
                throw new SessionFileException(file + " is damaged: " + size + " bytes where its header says " + total);
            }
            BoundedReader body = new BoundedReader(in, total - HEADER_BYTES - 4);
            Contents contents;
            try {
                contents = readBody(body, version);
            } catch (IllegalArgumentException | EOFException e) {
                // The length is right, so what does not parse was changed after writing.
                throw damaged(file);
            }
            long computed = crc.getValue();
            if (in.readInt() != (int) computed) {
                throw damaged(file);
            }
            return contents;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static SessionFileException notASession(Path file, long size) {
        return new SessionFileException(file + " is not a panllama session file" + (size == 0 ? " (it is empty)" : ""));
    }

    private static SessionFileException damaged(Path file) {
        return new SessionFileException(file + " is damaged: its checksum does not match its contents");
    }

    private static Contents readBody(BoundedReader in, int version) throws IOException {
        NativePin pin = new NativePin(in.string(), in.string(), in.string());
        String modelName = in.string();
        GgufFingerprint model = new GgufFingerprint(in.readLong(), in.string());
        int messageCount = in.count(8);
        List<Message> messages = new ArrayList<>(messageCount);
        for (int i = 0; i < messageCount; i++) {
            Message message = new Message(in.string(), in.string());
            messages.add(version == WITHOUT_REASONING ? message : message.withReasoning(in.string()));
        }
        KvCacheTypes types = new KvCacheTypes(GgmlType.valueOf(in.string()), GgmlType.valueOf(in.string()),
                GgmlType.valueOf(in.string()), GgmlType.valueOf(in.string()));
        long width = in.readLong();
        int chunkSize = in.readInt();
        int layers = in.count(12);
        int[] tokens = new int[in.count(4)];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = in.readInt();
        }
        SequenceState.CellLayout global = readLayout(in);
        SequenceState.CellLayout chunked = readLayout(in);
        int[] firstHostCell = new int[layers];
        byte[][] keys = new byte[layers][];
        byte[][] values = new byte[layers][];
        for (int layer = 0; layer < layers; layer++) {
            firstHostCell[layer] = in.readInt();
            keys[layer] = in.bytes();
            values[layer] = in.bytes();
        }
        in.requireEnd();
        return new Contents(pin, modelName, model, messages,
                new SequenceState(tokens, types, width, chunkSize, global, chunked, firstHostCell, keys, values));
    }

    private static SequenceState.CellLayout readLayout(BoundedReader in) throws IOException {
        int cellCount = in.readInt();
        int head = in.readInt();
        int[] cells = new int[in.count(12)];
        long[] positions = new long[cells.length];
        for (int i = 0; i < cells.length; i++) {
            cells[i] = in.readInt();
            positions[i] = in.readLong();
        }
        return new SequenceState.CellLayout(cellCount, head, cells, positions);
    }

    /**
     * Reads the body, trusting no length it finds beyond the bytes the body has: a damaged count fails
     * here instead of allocating gigabytes.
     */
    private static final class BoundedReader {
        private final DataInputStream in;
        private long left;

        BoundedReader(DataInputStream in, long bodyBytes) {
            this.in = in;
            this.left = bodyBytes;
        }

        int readInt() throws IOException {
            take(4);
            return in.readInt();
        }

        long readLong() throws IOException {
            take(8);
            return in.readLong();
        }

        /** A count of items of at least {@code itemBytes} each, checked against what is left. */
        int count(int itemBytes) throws IOException {
            int count = readInt();
            if (count < 0 || (long) count * itemBytes > left) {
                throw new IllegalArgumentException("a count of " + count + " does not fit the file");
            }
            return count;
        }

        byte[] bytes() throws IOException {
            byte[] bytes = new byte[count(1)];
            take(bytes.length);
            in.readFully(bytes);
            return bytes;
        }

        String string() throws IOException {
            return new String(bytes(), StandardCharsets.UTF_8);
        }

        void requireEnd() {
            if (left != 0) {
                throw new IllegalArgumentException(left + " bytes left over");
            }
        }

        private void take(long bytes) {
            if (bytes > left) {
                throw new IllegalArgumentException("the body ends before its fields do");
            }
            left -= bytes;
        }
    }

    /**
     * @throws SessionFileException when {@code contents} were saved with another ggml pin or another
     *                              model file than {@code model}
     */
    static void requireMadeFor(Path file, Contents contents, NativePin pin, String modelName, GgufFingerprint model) {
        if (!contents.pin().equals(pin)) {
            throw new SessionFileException(file + " was saved by a panllama pinned to ggml " + contents.pin().packageName() + "@"
                    + contents.pin().version() + " (" + contents.pin().integrity() + "); this one is pinned to "
                    + pin.packageName() + "@" + pin.version() + " (" + pin.integrity() + ")");
        }
        if (!contents.model().equals(model)) {
            throw new SessionFileException(file + " was saved with another model: " + contents.modelName() + " ("
                    + contents.model().bytes() + " bytes, fingerprint " + shortHash(contents.model()) + "), not "
                    + modelName + " (" + model.bytes() + " bytes, fingerprint " + shortHash(model) + ")");
        }
    }

    private static String shortHash(GgufFingerprint fingerprint) {
        return fingerprint.sha256().substring(0, Math.min(12, fingerprint.sha256().length()));
    }
}
