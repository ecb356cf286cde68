package dev.vmmigrate.transport;

import java.io.Closeable;
import java.io.IOException;

/** The receiving side before its one connection arrives. */
public interface IncomingEndpoint extends Closeable {

    /**
     * Where the sender should go: for tcp the bound address as "tcp:HOST:PORT" (port 0
     * resolved), for unix "unix:PATH", otherwise the URI itself.
     */
    String boundAddress();

    /**
     * Waits for exactly one connection. tcp and unix accept once and stop listening (unix
     * removes its socket file); exec spawns the command and reads its stdout; fd wraps the
     * descriptor; file opens the file for reading. A second call throws
     * {@link IllegalStateException}.
     */
    Connection accept() throws IOException;

    /**
     * Goes on listening after the first connection, so that {@link #accept()} may be called
     * again until {@link #close()} (receive --reconnect: a resumed source connects anew). Call
     * before the first accept; false for transports that have no listener (exec, fd, file).
     */
    default boolean keepListening() {
        return false;
    }

    /** Stops listening; unblocks a pending {@link #accept()}, which then throws. */
    @Override
    void close() throws IOException;
}
