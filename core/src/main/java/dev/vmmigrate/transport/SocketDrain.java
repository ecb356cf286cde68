package dev.vmmigrate.transport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Duration;

/**
 * Ends a TLS socket without a reset. Closing a socket with unread bytes in it sends a reset,
 * and a reset makes the peer's kernel drop what the peer has not read yet: the tail of our
 * stream, or the alert that says why we refused it. TLS leaves such bytes behind (a TLS 1.3
 * server's session ticket, which a sender without a return path never reads; a close_notify).
 * So: our FIN first, then read and discard until the peer closes too, for a bounded time.
 */
final class SocketDrain {
    private SocketDrain() {
    }

    /** Shuts our output, then discards input until the peer's end or {@code limit}; never throws. */
    static void untilPeerCloses(SocketChannel socket, Duration limit) {
        Thread timer = Thread.ofVirtual().name("tls-drain-limit").unstarted(() -> {
            try {
                Thread.sleep(limit);
                socket.shutdownInput(); // wakes the read below
            } catch (InterruptedException | IOException ignored) {
                // the peer closed first, or the socket is gone
            }
        });
        try {
            if (socket.isOpen()) {
                try {
                    socket.shutdownOutput();
                } catch (IOException alreadyShut) {
                    // our end may have been shut by the SSLSocket already: the reading still matters
                }
                timer.start();
                ByteBuffer sink = ByteBuffer.allocate(16 * 1024);
                while (socket.read(sink.clear()) >= 0) {
                    // discard
                }
            }
        } catch (IOException ignored) {
            // the peer reset or the socket is gone: nothing more to wait for
        } finally {
            timer.interrupt();
        }
    }
}
