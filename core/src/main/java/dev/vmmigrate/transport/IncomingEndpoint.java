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

    /**
     * Waits for the migration connection, as a receiver does (instead of {@link #accept()}).
     * tcp and unix screen each connection ({@code HeaderGate}: a client that sends no migration
     * header within a few seconds is dropped) and admit exactly one; they keep listening until
     * {@link #close()} and refuse every other connection, before the one admitted or after it.
     * Each drop and refusal is told to {@code notices} as one line. Other transports have one
     * connection by nature: this is {@link #accept()}.
     */
    default Connection acceptMigration(java.util.function.Consumer<String> notices) throws IOException {
        return accept();
    }

    /**
     * After {@link #acceptMigration} admitted its connection, hands every later one to
     * {@code handler} instead of refusing it (receive --reconnect: the handler admits a resumed
     * source and refuses the rest). False for transports with one connection by nature.
     */
    default boolean handOverLaterConnections(java.util.function.Consumer<Connection> handler) {
        return false;
    }

    /**
     * Before {@link #acceptMigration}: hands every connection that opens with a multifd channel's
     * magic (QEMU's MULTIFD_MAGIC) to {@code handler}, which admits or refuses it, whether it comes
     * before or after the migration connection; that one is then always the main stream's. Without
     * a handler such a connection may be admitted as the migration, whose load then names it. False
     * for transports with one connection by nature (and TLS, which multifd does not support here).
     */
    default boolean handOverMultifdChannels(java.util.function.Consumer<Connection> handler) {
        return false;
    }

    /** Stops listening; unblocks a pending {@link #accept()}, which then throws. */
    @Override
    void close() throws IOException;
}
