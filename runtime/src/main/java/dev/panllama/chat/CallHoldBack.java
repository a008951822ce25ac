package dev.panllama.chat;

/**
 * Holds a streamed reply's text back while it may still be a tool call, so that a stream never shows
 * the JSON of a call as text: pieces pass through {@link #pass} once the reply cannot be a call, and
 * what is held at the end is {@link #rest}, to pass on when the whole reply is not a call after all.
 */
public final class CallHoldBack {

    private final ToolUse tools;
    private final StringBuilder held = new StringBuilder();
    private boolean holding;

    public CallHoldBack(ToolUse tools) {
        this.tools = tools;
        this.holding = tools.mayCall();
    }

    /** The text to pass on now: {@code piece}, nothing while the reply may be a call, or all held once it cannot be. */
    public String pass(String piece) {
        if (!holding) {
            return piece;
        }
        held.append(piece);
        if (tools.mayBeCall(held.toString())) {
            return "";
        }
        holding = false;
        String released = held.toString();
        held.setLength(0);
        return released;
    }

    /** The text still held: the whole reply when it may have been a call to the end. */
    public String rest() {
        return held.toString();
    }
}
