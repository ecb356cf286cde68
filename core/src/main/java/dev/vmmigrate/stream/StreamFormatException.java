package dev.vmmigrate.stream;

import java.io.IOException;

/**
 * A migration stream that does not follow the format: names what was wrong and the byte offset
 * where it was found, so one line is enough for the operator. A stream that merely ends early is
 * a {@link TruncatedStreamException}: the link may have gone, not the format.
 */
public sealed class StreamFormatException extends IOException permits TruncatedStreamException {
    private final long offset;

    public StreamFormatException(String message, long offset) {
        super(message + " at offset " + offset);
        this.offset = offset;
    }

    public StreamFormatException(String message, long offset, Throwable cause) {
        super(message + " at offset " + offset, cause);
        this.offset = offset;
    }

    /** Byte offset from the start of the stream where the problem was found. */
    public long offset() {
        return offset;
    }
}
