package dev.vmmigrate.migration;

import dev.vmmigrate.returnpath.DestinationReturnPath;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.transport.IncomingEndpoint;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The destination's side of a resumed migration (receive --reconnect): takes the connections the
 * endpoint gets after the migration's own while the load runs, admits one only when its first bytes are a
 * {@link ResumeHello} with this migration's token, and hands it to the loader. Anything else is
 * closed with a line saying so. An admitted connection means the source gave the old link up, so
 * {@code linkReplaced} shuts the old one down: a loader blocked on a stalled link moves on.
 */
final class IncomingResume implements AutoCloseable {
    /** A new connection of this migration, its hello read and its input counting from where its bytes start. */
    record Resumed(Connection connection, MigrationInput in) {
    }

    /** The receiver's endpoint, which {@linkplain IncomingEndpoint#handOverLaterConnections hands later connections} here. */
    private final IncomingEndpoint endpoint;
    private final Duration helloTimeout;
    private final Consumer<String> refused;
    private final Runnable linkReplaced;
    /** The source's token (COMMAND VM_MIGRATE_RESUMABLE); 0 until it came. */
    private volatile long token;
    private final SynchronousQueue<Resumed> admitted = new SynchronousQueue<>();
    private volatile boolean closed;

    /**
     * @param helloTimeout how long a new connection may take to send its hello
     * @param refused told one line for each connection that is not this migration's
     * @param linkReplaced run when a connection is admitted, before the loader takes it
     */
    IncomingResume(IncomingEndpoint endpoint, Duration helloTimeout, Consumer<String> refused, Runnable linkReplaced) {
        this.endpoint = endpoint;
        this.helloTimeout = helloTimeout;
        this.refused = refused;
        this.linkReplaced = linkReplaced;
    }

    /** The source offered to resume: a new connection must present {@code token}. */
    void expect(long token) {
        this.token = token;
    }

    /** From now on the endpoint hands each connection after the migration's own to this one. */
    void start() {
        if (!endpoint.handOverLaterConnections(connection -> Thread.ofVirtual().name("resume-hello")
                .start(() -> admit(connection)))) {
            throw new IllegalStateException(endpoint.boundAddress() + " cannot take a resumed source's connection");
        }
    }

    /** Reads the hello within the time allowed; hands the connection on or closes it. */
    private void admit(Connection connection) {
        MigrationInput in = new MigrationInput(connection.input());
        Thread deadline = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(helloTimeout);
                connection.shutdown();
            } catch (InterruptedException done) {
                // the hello came in time
            }
        });
        ResumeHello hello;
        try {
            hello = ResumeHello.read(in);
        } catch (IOException e) {
            deadline.interrupt();
            refuse(connection, in, "it is not a resumed migration (" + e.getMessage() + ")");
            return;
        }
        deadline.interrupt();
        if (token == 0 || hello.token() != token) {
            String why = "it presented another migration's token";
            try { // a resuming source: it stops trying at once when told why
                new DestinationReturnPath(connection.output()).failed("no migration to resume here with that token", true);
            } catch (IOException ignored) {
                // it is refused either way
            }
            refuse(connection, in, why);
            return;
        }
        in.rebase(hello.streamOffset());
        linkReplaced.run();
        try {
            while (!closed) {
                if (admitted.offer(new Resumed(connection, in), 100, TimeUnit.MILLISECONDS)) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        closeQuietly(connection, in);
    }

    private void refuse(Connection connection, MigrationInput in, String why) {
        refused.accept("refused a connection from " + connection.description() + " during the migration: " + why);
        closeQuietly(connection, in);
    }

    /**
     * Waits for an admitted connection.
     *
     * @return null when none came within {@code limit}, or once closed
     */
    Resumed await(Duration limit) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!closed) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return null;
            }
            Resumed next = admitted.poll(Math.min(left, TimeUnit.MILLISECONDS.toNanos(100)), TimeUnit.NANOSECONDS);
            if (next != null) {
                return next;
            }
        }
        return null;
    }

    /** Stops admitting: the endpoint refuses later connections again, until its owner closes it. */
    @Override
    public void close() {
        closed = true;
        endpoint.handOverLaterConnections(null);
    }

    static void closeQuietly(Connection connection, MigrationInput in) {
        connection.shutdown();
        try {
            in.close();
            connection.close();
        } catch (IOException ignored) {
            // a connection being given up: nothing to report about closing it
        }
    }
}
