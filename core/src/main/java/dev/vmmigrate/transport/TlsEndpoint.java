package dev.vmmigrate.transport;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A listening tcp: or unix: endpoint whose one connection is handed over only after the TLS
 * handshake (QEMU's migration_tls_channel_process_incoming). Closing it also wakes a handshake
 * under way, so Ctrl-C while a client handshakes does not wait for the handshake's timeout.
 */
final class TlsEndpoint implements IncomingEndpoint {
    private final IncomingEndpoint plain;
    private final TlsCredentials creds;
    private final Duration timeout;
    private final AtomicReference<Connection> handshaking = new AtomicReference<>();
    private volatile boolean closed;

    TlsEndpoint(IncomingEndpoint plain, TlsCredentials creds, Duration timeout) {
        this.plain = plain;
        this.creds = creds;
        this.timeout = timeout;
    }

    @Override
    public String boundAddress() {
        return plain.boundAddress();
    }

    @Override
    public Connection accept() throws IOException {
        Connection accepted = plain.accept();
        handshaking.set(accepted);
        try {
            if (closed) {
                accepted.shutdown(); // closed between the accept and now: the handshake fails at once
            }
            return creds.handshake(accepted, null, timeout);
        } finally {
            handshaking.set(null);
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        try {
            plain.close();
        } finally {
            Connection pending = handshaking.get();
            if (pending != null) {
                pending.shutdown();
            }
        }
    }

    @Override
    public String toString() {
        return plain.toString();
    }
}
