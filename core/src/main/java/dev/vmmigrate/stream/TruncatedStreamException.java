package dev.vmmigrate.stream;

/**
 * The stream ended inside a value: the sender stopped, or the link went (a peer that closes, a
 * connection shut down after a stall). A migration that can resume tells this apart from a
 * stream whose bytes are wrong.
 */
public final class TruncatedStreamException extends StreamFormatException {
    public TruncatedStreamException(String message, long offset) {
        super(message, offset);
    }
}
