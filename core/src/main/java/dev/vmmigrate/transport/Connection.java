package dev.vmmigrate.transport;

import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * An established byte stream to the peer, whatever the transport.
 *
 * <p>The channels are blocking and unbuffered: the caller (the stream package) does its own
 * buffering, so a write returns only once its bytes were handed to the kernel. Closing one of
 * the returned channels may close the whole connection; use {@link #close()} instead.
 */
public interface Connection extends Closeable {

    /** The incoming bytes; throws {@link UnsupportedOperationException} on a write-only connection. */
    ReadableByteChannel input();

    /** The outgoing bytes; throws {@link UnsupportedOperationException} on a read-only connection. */
    WritableByteChannel output();

    /**
     * Unblocks a reader or writer blocked in this connection from another thread (socket
     * shutdown, or kill and close for a command); idempotent; never throws. A pipe inherited
     * through {@code fd:N} is the exception: the kernel offers no way to wake its reader.
     */
    void shutdown();

    /**
     * Closes without flushing (nothing is buffered here). For {@code exec:} it closes the
     * command's pipes, waits (at most 30 s, then kills) for it to exit and throws
     * {@code IOException("command 'X' exited with status N")} when N is not 0.
     */
    @Override
    void close() throws IOException;

    /**
     * Whether the peer can answer on this same connection (a socket: tcp:, unix:), which QEMU's
     * return path needs; exec:, fd: and file: have no such back channel.
     */
    default boolean hasBackChannel() {
        return false;
    }

    /** For humans: "tcp 127.0.0.1:4444", "exec 'cat > f'". */
    String description();
}
