package dev.vmmigrate.transport;

import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A listening tcp or unix socket that accepts exactly one connection and then stops
 * listening, as QEMU's -incoming does: a second sender gets "connection refused" rather than
 * a connection nobody reads.
 */
final class SocketEndpoint implements IncomingEndpoint {

    /** Turns the accepted socket into a connection (options, description); tcp and unix differ. */
    @FunctionalInterface
    interface Wrapper {
        Connection wrap(SocketChannel accepted) throws IOException;
    }

    /** Removes what listening left behind (the unix socket file); runs once. */
    @FunctionalInterface
    interface Cleanup {
        void run() throws IOException;
    }

    private final ServerSocketChannel server;
    private final String boundAddress;
    private final Wrapper wrapper;
    private final Cleanup cleanup;
    private final AtomicBoolean acceptCalled = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile boolean keepListening;

    SocketEndpoint(ServerSocketChannel server, String boundAddress,
                   Wrapper wrapper, Cleanup cleanup) {
        this.server = server;
        this.boundAddress = boundAddress;
        this.wrapper = wrapper;
        this.cleanup = cleanup;
    }

    @Override
    public String boundAddress() {
        return boundAddress;
    }

    @Override
    public boolean keepListening() {
        keepListening = true;
        return true;
    }

    @Override
    public Connection accept() throws IOException {
        if (!acceptCalled.compareAndSet(false, true) && !keepListening) {
            throw new IllegalStateException("accept() already called on " + boundAddress);
        }
        try {
            SocketChannel channel = server.accept();
            try {
                return wrapper.wrap(channel);
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
        } catch (ClosedChannelException e) { // includes AsynchronousCloseException
            throw new IOException("stopped listening on " + boundAddress + " before a connection arrived", e);
        } catch (IOException e) {
            throw IoErrors.wrap("cannot accept on " + boundAddress, e);
        } finally {
            if (!keepListening) {
                close();
            }
        }
    }

    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) return;
        try {
            server.close();
        } finally {
            cleanup.run();
        }
    }

    @Override
    public String toString() {
        return boundAddress;
    }
}
