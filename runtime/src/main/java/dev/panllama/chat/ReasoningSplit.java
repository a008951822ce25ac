package dev.panllama.chat;

/**
 * A reply's reasoning told apart from its answer, as llama.cpp's {@code deepseek} reasoning format (its
 * default) tells them. Reasoning is the text of a {@code <think>...</think>} block at the reply's start;
 * where the prompt opened the block itself (DeepSeek R1's template ends with {@code <think>\n}), the reply
 * starts inside it, and the reasoning also has what the prompt wrote after the tag. The answer is what
 * follows {@code </think>}. Both are kept as written, white space included, as llama.cpp keeps them; but
 * reasoning that is only white space (the newline after an opening tag, before a forced end) is none, as
 * llama.cpp drops it. A reply cut off inside the block is all reasoning.
 *
 * <p>Fed a stream piece by piece, it holds back only what may still be the start of a tag, and reasoning
 * while it is all white space.
 */
public final class ReasoningSplit {

    private static final String START = "<think>";
    private static final String END = "</think>";

    /** One piece's share of reasoning and of answer (either may be empty). */
    public record Parts(String reasoning, String content) {
        static final Parts NONE = new Parts("", "");
    }

    /**
     * Where a reply starts: whether its reasoning is to be told apart ({@code extract}), whether the
     * prompt opened the block ({@code opened}) and what it wrote from the tag on ({@code opening}).
     */
    public record Start(boolean extract, boolean opened, String opening) {
        /** A reply that is all answer: its template writes no reasoning, or nobody asked for it apart. */
        public static final Start NONE = new Start(false, false, "");
    }

    private enum Place { BEFORE, INSIDE, ANSWER }

    private Place place;
    private final StringBuilder held = new StringBuilder();
    /** The reasoning so far while it is only white space: given out once something else follows, else dropped. */
    private final StringBuilder blankReasoning = new StringBuilder();
    private boolean reasoned;
    /** Text that goes before the first piece: what the prompt wrote of the block. */
    private String lead;

    public ReasoningSplit(Start start) {
        if (!start.extract()) {
            place = Place.ANSWER;
            // Left together, the reply reads as a whole block, as llama.cpp's "none" gives it.
            lead = start.opened() ? start.opening() : "";
        } else if (start.opened()) {
            place = Place.INSIDE;
            lead = start.opening().substring(START.length());
        } else {
            place = Place.BEFORE;
            lead = "";
        }
    }

    /** Whether {@code template} writes reasoning blocks, so that a reply after it may be, or begin with, one. */
    public static boolean thinks(String template) {
        return template.contains(START) && template.contains(END);
    }

    /**
     * Where a reply after {@code prompt} starts, for a template that writes reasoning blocks ({@code thinks});
     * {@code extract} asks for the reasoning apart.
     */
    public static Start at(String prompt, boolean thinks, boolean extract) {
        if (!thinks) {
            return Start.NONE;
        }
        int open = prompt.lastIndexOf(START);
        boolean opened = open >= 0 && prompt.substring(open + START.length()).isBlank();
        return new Start(extract, opened, opened ? prompt.substring(open) : "");
    }

    /** {@code text}, a whole reply, split. */
    public Parts whole(String text) {
        Parts first = pass(text);
        Parts rest = finish();
        return new Parts(first.reasoning() + rest.reasoning(), first.content() + rest.content());
    }

    /** The next piece of the reply: what of it (and of what was held before) is now known to be reasoning or answer. */
    public Parts pass(String piece) {
        held.append(lead).append(piece);
        lead = "";
        return switch (place) {
            case BEFORE -> before();
            case INSIDE -> inside();
            case ANSWER -> answer();
        };
    }

    /** Whether text is held back, as it may still be part of a tag or be reasoning of only white space. */
    public boolean holds() {
        return !held.isEmpty() || !blankReasoning.isEmpty();
    }

    /** The reply has ended: what was held back. */
    public Parts finish() {
        held.append(lead);
        lead = "";
        String rest = held.toString();
        held.setLength(0);
        return place == Place.INSIDE ? new Parts(reasoning(rest), "") : new Parts("", rest);
    }

    /** What of {@code text}, the block's next reasoning, goes out now: nothing while all of it is white space. */
    private String reasoning(String text) {
        if (reasoned) {
            return text;
        }
        blankReasoning.append(text);
        for (int i = 0; i < blankReasoning.length(); i++) {
            if (" \n\r\t".indexOf(blankReasoning.charAt(i)) < 0) {
                reasoned = true;
                String all = blankReasoning.toString();
                blankReasoning.setLength(0);
                return all;
            }
        }
        return "";
    }

    /** Before anything but white space: a block may still open here. */
    private Parts before() {
        String text = held.toString();
        String start = text.stripLeading();
        if (start.startsWith(START)) {
            held.delete(0, text.length() - start.length() + START.length());
            place = Place.INSIDE;
            return inside();
        }
        if (START.startsWith(start)) {
            return Parts.NONE;
        }
        place = Place.ANSWER;
        return answer();
    }

    private Parts inside() {
        String text = held.toString();
        int end = text.indexOf(END);
        if (end >= 0) {
            held.delete(0, end + END.length());
            place = Place.ANSWER;
            return new Parts(reasoning(text.substring(0, end)), answer().content());
        }
        // Hold back what may be the start of the end tag.
        int keep = text.length();
        for (int from = Math.max(0, text.length() - END.length() + 1); from < text.length(); from++) {
            if (END.startsWith(text.substring(from))) {
                keep = from;
                break;
            }
        }
        held.delete(0, keep);
        return new Parts(reasoning(text.substring(0, keep)), "");
    }

    private Parts answer() {
        String text = held.toString();
        held.setLength(0);
        return new Parts("", text);
    }
}
