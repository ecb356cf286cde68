package dev.vmmigrate.held;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * Reads {@code source} and writes every byte it gives to {@code copy} before handing it on: a
 * relay passes a stream on as it arrives (pipelined, not stored and forwarded) while it loads its
 * own copy. A failed write to {@code copy} stops the copying, not the reading: the relay still
 * holds the whole VM, and {@link #copyError()} says what happened.
 */
public final class TeeChannel implements ReadableByteChannel {
    private final ReadableByteChannel source;
    private final WritableByteChannel copy;
    private volatile IOException copyError;
    private volatile long copied;

    public TeeChannel(ReadableByteChannel source, WritableByteChannel copy) {
        this.source = source;
        this.copy = copy;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        int start = dst.position();
        int n = source.read(dst);
        if (n > 0 && copyError == null) {
            ByteBuffer out = dst.duplicate().position(start).limit(start + n);
            try {
                while (out.hasRemaining()) {
                    copied += copy.write(out);
                }
            } catch (IOException e) {
                copyError = e;
            }
        }
        return n;
    }

    /** Why copying stopped, or null. */
    public IOException copyError() {
        return copyError;
    }

    /** Bytes the copy took so far (up to where it failed). */
    public long copied() {
        return copied;
    }

    @Override
    public boolean isOpen() {
        return source.isOpen();
    }

    @Override
    public void close() throws IOException {
        source.close();
    }
}
