package dev.vmmigrate.transport;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The incoming side of a transport with nothing to listen on (exec, fd, file): accept opens
 * the one connection straight away.
 */
final class PreparedEndpoint implements IncomingEndpoint {

    @FunctionalInterface
    interface Opener {
        Connection open() throws IOException;
    }

    private final String address;
    private final Opener opener;
    private final AtomicBoolean acceptCalled = new AtomicBoolean();
    private volatile boolean closed;

    PreparedEndpoint(String address, Opener opener) {
        this.address = address;
        this.opener = opener;
    }

    @Override
    public String boundAddress() {
        return address;
    }

    @Override
    public Connection accept() throws IOException {
        if (closed) throw new IllegalStateException("accept() on closed endpoint " + address);
        if (!acceptCalled.compareAndSet(false, true)) {
            throw new IllegalStateException("accept() already called on " + address);
        }
        return opener.open();
    }

    /** Nothing to release: the connection, once accepted, belongs to the caller. */
    @Override
    public void close() {
        closed = true;
    }

    @Override
    public String toString() {
        return address;
    }
}
