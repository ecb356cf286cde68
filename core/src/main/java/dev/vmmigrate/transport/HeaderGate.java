package dev.vmmigrate.transport;

import dev.vmmigrate.savevm.StreamPreamble;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HexFormat;

/**
 * Screens a connection a receiver accepted before it is taken as the migration: it must send a
 * migration stream's first 8 bytes (QEMU's magic and version, or a multifd channel's magic, which
 * the loader then names) within {@link #TIMEOUT}. A client that connects and sends nothing, or
 * sends something else, is dropped instead of holding the receiver while the real sender waits.
 * QEMU's -incoming has no such screen: it takes the first connection whatever it sends.
 */
final class HeaderGate {
    /** How long a new connection has to send its header: a real source sends it at once. */
    static final Duration TIMEOUT = Duration.ofSeconds(5);
    static final int HEADER_BYTES = 8;
    /** A TLS record of content type 22 (handshake), version 3.x: a TLS client's first bytes. */
    private static final int TLS_HANDSHAKE = 0x1603;

    private HeaderGate() {
    }

    /** Why a connection was dropped. */
    static final class Dropped extends Exception {
        Dropped(String reason) {
            super(reason, null, false, false);
        }
    }

    /**
     * A connection that passed, its header to be read again.
     *
     * @param multifdChannel it opened with a multifd channel's magic, not the main stream's
     */
    record Screened(Connection connection, boolean multifdChannel) {
    }

    /**
     * Reads the header from {@code candidate} within {@code timeout}.
     *
     * @return the connection, its header to be read again
     * @throws Dropped when it sent no header in time or not a migration stream's
     */
    static Screened screen(Connection candidate, Duration timeout) throws Dropped {
        ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES);
        // Whoever moves it from 0 decides: 1, the header came in time; 2, the deadline passed.
        java.util.concurrent.atomic.AtomicInteger outcome = new java.util.concurrent.atomic.AtomicInteger();
        Thread deadline = Thread.ofVirtual().name("header-deadline").start(() -> {
            try {
                Thread.sleep(timeout);
                if (outcome.compareAndSet(0, 2)) {
                    candidate.shutdown(); // the read below sees the end of the stream
                }
            } catch (InterruptedException sent) {
                // the header came in time
            }
        });
        try {
            while (header.hasRemaining()) {
                if (candidate.input().read(header) < 0) {
                    throw new Dropped(header.position() == 0
                            ? "it sent nothing within " + timeout.toSeconds() + " s"
                            : "it sent " + header.position() + " bytes and no more within " + timeout.toSeconds() + " s");
                }
            }
        } catch (IOException e) {
            throw new Dropped("reading its header failed: " + e.getMessage());
        } finally {
            deadline.interrupt();
        }
        if (!outcome.compareAndSet(0, 1)) {
            throw new Dropped("it sent no header within " + timeout.toSeconds() + " s");
        }
        int magic = header.getInt(0);
        if ((magic >>> 16) == TLS_HANDSHAKE) {
            throw new Dropped("it began a TLS handshake: the source uses TLS (QEMU's tls-creds) and this end does not "
                    + "(--tls-creds)");
        }
        if (magic != StreamPreamble.MAGIC && magic != StreamPreamble.MULTIFD_MAGIC) {
            throw new Dropped("it sent 0x" + HexFormat.of().formatHex(header.array())
                    + ", not a QEMU migration stream's header");
        }
        return new Screened(new ReplayedConnection(candidate, header.array()), magic == StreamPreamble.MULTIFD_MAGIC);
    }
}
