package dev.panllama.placement;

/** A placement that cannot be made: what it needed and what there was, in the message. */
public final class PlacementException extends IllegalStateException {

    public PlacementException(String message) {
        super(message);
    }
}
