package dev.vmmigrate.transport;

import java.io.IOException;

/**
 * A parsed migration URI, one record per scheme, spelled as QEMU spells them. The records'
 * {@code toString()} gives back the URI text.
 */
public sealed interface MigrationUri permits TcpUri, UnixUri, ExecUri, FdUri, FileUri {

    /**
     * Parses "tcp:HOST:PORT", "unix:PATH", "exec:COMMAND", "fd:N" or "file:PATH".
     *
     * @throws IllegalArgumentException one line naming the offending value
     */
    static MigrationUri parse(String uri) {
        if (uri == null || uri.isEmpty()) {
            throw new IllegalArgumentException("empty migration URI (expected tcp:, unix:, exec:, fd: or file:)");
        }
        // Schemes are case-sensitive, as in QEMU.
        if (uri.startsWith("tcp:")) return TcpUri.parse(uri);
        if (uri.startsWith("unix:")) return UnixUri.parse(uri);
        if (uri.startsWith("exec:")) return ExecUri.parse(uri);
        if (uri.startsWith("fd:")) return FdUri.parse(uri);
        if (uri.startsWith("file:")) return FileUri.parse(uri);
        throw new IllegalArgumentException("unknown migration protocol '" + uri
                + "' (expected tcp:, unix:, exec:, fd: or file:)");
    }

    /**
     * tcp: and unix:: a socket, whose connection carries bytes both ways (the return path) and
     * whose address a sender can reach again (a resumed migration).
     */
    default boolean isSocket() {
        return this instanceof TcpUri || this instanceof UnixUri;
    }

    /** Opens the outgoing side: connect, spawn, or open for writing. */
    Connection connect() throws IOException;

    /** Opens the incoming side: bind and listen (tcp, unix) or check and prepare (exec, fd, file). */
    IncomingEndpoint listen() throws IOException;
}
