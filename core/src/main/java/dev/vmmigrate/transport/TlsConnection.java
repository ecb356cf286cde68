package dev.vmmigrate.transport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.time.Duration;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSocket;

/**
 * A tcp: or unix: connection with TLS over it (QEMU's QIOChannelTLS), the same {@link Connection}
 * to everything above. SSLSocket lets one thread read (the return path) while another writes
 * (the stream). {@link #shutdown()} shuts the socket underneath, which wakes both; an alert the
 * peer sends later (TLS 1.3 lets a server refuse a client certificate after the client finished
 * its handshake) comes out as one line saying why.
 */
final class TlsConnection implements Connection {
    /** The largest piece handed to the SSLSocket at once; it cuts records of 16 KiB itself. */
    private static final int CHUNK = 256 * 1024;
    /** How long close() waits for the close_notify to go out before it just closes the socket. */
    private static final Duration CLOSE_NOTIFY_WAIT = Duration.ofSeconds(1);
    /** How long close() waits for the peer to close its end (see {@link SocketDrain}). */
    private static final Duration PEER_CLOSE_WAIT = Duration.ofSeconds(2);

    private final Connection plain;
    private final java.nio.channels.SocketChannel socket;
    private final SSLSocket ssl;
    private final TlsCredentials creds;
    private final String peerName;
    private final String description;
    private final InputStream in;
    private final OutputStream out;
    private final ReadableByteChannel input = new Input();
    private final WritableByteChannel output = new Output();
    private volatile boolean shutDown;
    /** Whether the peer sent any data: until then, a TLS 1.3 server may still refuse our certificate. */
    private volatile boolean heardFromPeer;
    private volatile boolean closed;

    TlsConnection(Connection plain, java.nio.channels.SocketChannel socket, SSLSocket ssl, TlsCredentials creds,
                  String peerName) throws IOException {
        this.plain = plain;
        this.socket = socket;
        this.ssl = ssl;
        this.creds = creds;
        this.peerName = peerName;
        this.description = plain.description() + " over " + ssl.getSession().getProtocol();
        this.in = ssl.getInputStream();
        this.out = ssl.getOutputStream();
    }

    @Override
    public ReadableByteChannel input() {
        return input;
    }

    @Override
    public WritableByteChannel output() {
        return output;
    }

    @Override
    public boolean hasBackChannel() {
        return true;
    }

    @Override
    public void shutdown() {
        shutDown = true;
        plain.shutdown();
    }

    /**
     * Sends close_notify (so a gnutls peer sees a clean end, not a premature termination), but
     * waits for it at most {@link #CLOSE_NOTIFY_WAIT}: a peer that takes no more bytes must not
     * hold the close. Then waits for the peer to close (at most {@link #PEER_CLOSE_WAIT}), so
     * that closing sends no reset, and closes the socket underneath.
     */
    @Override
    public void close() throws IOException {
        if (closed) return;
        closed = true;
        if (!shutDown) {
            Thread notifier = Thread.ofVirtual().name("tls-close-notify").start(() -> {
                try {
                    ssl.shutdownOutput();
                } catch (IOException | RuntimeException ignored) {
                    // the peer went first or the link broke: closing is all that is left
                }
            });
            try {
                notifier.join(CLOSE_NOTIFY_WAIT);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            SocketDrain.untilPeerCloses(socket, PEER_CLOSE_WAIT);
        }
        plain.close();
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public String toString() {
        return description;
    }

    /** An SSLException after the handshake (an alert from the peer) as one line that says why. */
    private IOException translate(IOException e) {
        if (shutDown) {
            return e;
        }
        if (e instanceof SSLException) {
            return new IOException("TLS session with " + peerName + " failed: "
                    + TlsFailures.reason(e, creds, peerName), e);
        }
        if (creds.role() == TlsRole.CLIENT && !heardFromPeer) {
            // QEMU checks our certificate after gnutls' handshake and just closes: no alert to read.
            return new IOException("TLS session with " + peerName + " failed: the peer closed the connection right "
                    + "after the handshake (it may have refused our certificate " + creds.certFile() + "): "
                    + e.getMessage(), e);
        }
        return e;
    }

    private final class Input implements ReadableByteChannel {
        private final byte[] bounce = new byte[CHUNK];

        @Override
        public int read(ByteBuffer dst) throws IOException {
            if (closed) throw new ClosedChannelException();
            if (!dst.hasRemaining()) return 0;
            int n = readSome(dst);
            if (n < 0 && creds.role() == TlsRole.CLIENT && !heardFromPeer && !shutDown) {
                throw translate(new java.io.EOFException("end of stream"));
            }
            return n;
        }

        private int readSome(ByteBuffer dst) throws IOException {
            try {
                if (dst.hasArray()) {
                    int n = in.read(dst.array(), dst.arrayOffset() + dst.position(), dst.remaining());
                    if (n > 0) {
                        dst.position(dst.position() + n);
                        heardFromPeer = true;
                    }
                    return n;
                }
                int n = in.read(bounce, 0, Math.min(bounce.length, dst.remaining()));
                if (n > 0) {
                    dst.put(bounce, 0, n);
                    heardFromPeer = true;
                }
                return n;
            } catch (IOException e) {
                throw translate(e);
            }
        }

        @Override
        public boolean isOpen() {
            return !closed;
        }

        @Override
        public void close() throws IOException {
            TlsConnection.this.close();
        }
    }

    private final class Output implements WritableByteChannel {
        private final byte[] bounce = new byte[CHUNK];

        @Override
        public int write(ByteBuffer src) throws IOException {
            if (closed) throw new ClosedChannelException();
            int written = src.remaining();
            try {
                if (src.hasArray()) {
                    out.write(src.array(), src.arrayOffset() + src.position(), written);
                    src.position(src.limit());
                    return written;
                }
                while (src.hasRemaining()) {
                    int n = Math.min(bounce.length, src.remaining());
                    src.get(bounce, 0, n);
                    out.write(bounce, 0, n);
                }
                return written;
            } catch (IOException e) {
                throw translate(e);
            }
        }

        @Override
        public boolean isOpen() {
            return !closed;
        }

        @Override
        public void close() throws IOException {
            TlsConnection.this.close();
        }
    }
}
