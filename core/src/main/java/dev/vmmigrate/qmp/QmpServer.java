package dev.vmmigrate.qmp;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.transport.IncomingEndpoint;
import dev.vmmigrate.transport.MigrationUri;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A QMP socket on a vm-migrate process (--qmp unix:PATH or tcp:HOST:PORT), speaking QEMU's
 * protocol to several clients at once: the greeting, capabilities negotiation, then {@link Qmp}'s
 * commands and events. A unix socket is removed when the server closes.
 */
public final class QmpServer implements AutoCloseable {
    private final IncomingEndpoint endpoint;
    private final Qmp qmp;
    private final ObjectNode greeting;
    private final List<QmpSession> sessions = new CopyOnWriteArrayList<>();
    private final String address;
    private volatile boolean closed;

    private QmpServer(IncomingEndpoint endpoint, Qmp qmp) {
        this.endpoint = endpoint;
        this.address = endpoint.boundAddress();
        this.qmp = qmp;
        this.greeting = qmp.json().createObjectNode();
        ObjectNode body = greeting.putObject("QMP");
        body.set("version", qmp.version());
        body.putArray("capabilities");
        qmp.addEventListener(this::broadcast);
    }

    /** Listens on {@code where} (tcp: or unix:) and serves clients on virtual threads. */
    public static QmpServer start(MigrationUri where, Qmp qmp) throws IOException {
        if (!where.isSocket()) {
            throw new IllegalArgumentException("a QMP socket needs a tcp: or unix: address, not " + where);
        }
        IncomingEndpoint endpoint = where.listen();
        endpoint.keepListening();
        QmpServer server = new QmpServer(endpoint, qmp);
        Thread.ofVirtual().name("qmp-accept").start(server::acceptLoop);
        return server;
    }

    /** Where clients connect: "unix:PATH" or "tcp:HOST:PORT" (port 0 resolved). */
    public String address() {
        return address;
    }

    private void acceptLoop() {
        while (!closed) {
            Connection connection;
            try {
                connection = endpoint.accept();
            } catch (IOException | RuntimeException e) {
                return; // closed
            }
            QmpSession session = new QmpSession(connection, qmp, greeting, sessions::remove);
            sessions.add(session);
            Thread.ofVirtual().name("qmp-session").start(session::serve);
        }
    }

    private void broadcast(String event, ObjectNode data) {
        for (QmpSession session : sessions) {
            session.event(event, data);
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            endpoint.close();
        } catch (IOException ignored) {
            // not listening any more either way
        }
        sessions.forEach(QmpSession::close);
    }
}
