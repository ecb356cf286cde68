package dev.vmmigrate.transport;

import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * A listening tcp or unix socket. {@link #accept()} takes exactly one connection and then stops
 * listening, as QEMU's -incoming does: a second sender gets "connection refused" rather than a
 * connection nobody reads. {@link #acceptMigration} screens every connection instead and admits
 * one ({@link ConnectionAdmission}), refusing the others with a notice until closed.
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

    /**
     * Connections the kernel queues until accepted: a multifd source opens its main stream and
     * every channel at once (QEMU sizes its own listener's backlog by multifd-channels), and a
     * connection that finds the queue full has its handshake dropped, to be retried a second
     * later, or reset.
     */
    static final int BACKLOG = 256;

    private final ServerSocketChannel server;
    private final String boundAddress;
    private final Wrapper wrapper;
    private final Cleanup cleanup;
    private final AtomicBoolean acceptCalled = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final ConnectionAdmission admission = new ConnectionAdmission();
    /** accept() may be called again (a QMP socket's clients); see {@link #keepListening}. */
    private volatile boolean keepListening;
    /** Takes the connections after the admitted one instead of refusing them (receive --reconnect); or null. */
    private volatile Consumer<Connection> laterConnections;
    /** Takes the connections that open as multifd channels (receive --capability multifd); or null. */
    private volatile Consumer<Connection> multifdChannels;

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
    public boolean handOverLaterConnections(Consumer<Connection> handler) {
        laterConnections = handler;
        return true;
    }

    @Override
    public boolean handOverMultifdChannels(Consumer<Connection> handler) {
        multifdChannels = handler;
        return true;
    }

    @Override
    public Connection acceptMigration(Consumer<String> notices) throws IOException {
        if (!acceptCalled.compareAndSet(false, true)) {
            throw new IllegalStateException("accept() already called on " + boundAddress);
        }
        CompletableFuture<Connection> admitted = new CompletableFuture<>();
        Thread.ofVirtual().name("accept " + boundAddress).start(() -> acceptEach(admitted, notices));
        try {
            return admitted.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw new IOException("interrupted while listening on " + boundAddress, e);
        } catch (ExecutionException e) {
            close();
            if (e.getCause() instanceof ClosedChannelException closedFirst) {
                throw new IOException("stopped listening on " + boundAddress + " before a connection arrived", closedFirst);
            }
            throw IoErrors.wrap("cannot accept on " + boundAddress,
                    e.getCause() instanceof IOException io ? io : new IOException(e.getCause()));
        }
    }

    /** Accepts until closed: each connection is screened on a thread of its own, or refused at once. */
    private void acceptEach(CompletableFuture<Connection> admitted, Consumer<String> notices) {
        try {
            while (true) {
                SocketChannel channel = server.accept();
                Connection candidate;
                try {
                    candidate = wrapper.wrap(channel);
                } catch (IOException | RuntimeException e) {
                    channel.close();
                    notices.accept("dropped a connection on " + boundAddress + ": " + e.getMessage());
                    continue;
                }
                Consumer<Connection> multifd = multifdChannels;
                if (!admission.admitsMore() && multifd == null) {
                    laterOrRefused(candidate, notices);
                    continue;
                }
                // With multifd channels expected, every connection is screened: its magic tells them apart.
                Thread.ofVirtual().name("screen " + candidate.description()).start(() -> {
                    try {
                        HeaderGate.Screened screened = HeaderGate.screen(candidate, HeaderGate.TIMEOUT);
                        if (screened.multifdChannel() && multifd != null) {
                            multifd.accept(screened.connection());
                        } else if (admission.admit()) {
                            admitted.complete(screened.connection());
                        } else {
                            // another one was admitted while this was screened, or before
                            laterOrRefused(screened.connection(), notices);
                        }
                    } catch (HeaderGate.Dropped e) {
                        notices.accept("dropped a connection (" + candidate.description() + "): " + e.getMessage());
                        closeQuietly(candidate);
                    }
                });
            }
        } catch (IOException e) {
            admitted.completeExceptionally(e); // nothing if one was admitted: then this is close()
        }
    }

    private void laterOrRefused(Connection candidate, Consumer<String> notices) {
        Consumer<Connection> later = laterConnections;
        if (later != null) {
            later.accept(candidate);
        } else {
            refuse(candidate, notices);
        }
    }

    private void refuse(Connection candidate, Consumer<String> notices) {
        notices.accept("refused a connection (" + candidate.description()
                + "): this receiver takes one migration connection and has it");
        closeQuietly(candidate);
    }

    private static void closeQuietly(Connection connection) {
        try {
            connection.close();
        } catch (IOException ignored) {
            // dropping it: nothing to tell
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
