package dev.vmmigrate.transport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * A connected tcp or unix {@link SocketChannel} seen as a {@link Socket}, for an SSLSocket to be
 * layered over it (the JDK offers no Socket view of a unix-domain channel). Its streams read and
 * write the channel directly, without the channel's blocking lock, so one thread can read while
 * another writes: the return path needs both at once. Socket options are left as the transport
 * set them.
 */
final class ChannelSocket extends Socket {
    private final SocketChannel channel;
    private volatile boolean inputShut;
    private volatile boolean outputShut;
    private volatile boolean closed;
    private final InputStream in = new InputStream() {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) return 0;
            int n;
            do {
                n = channel.read(ByteBuffer.wrap(b, off, len));
            } while (n == 0);
            return n;
        }
    };
    private final OutputStream out = new OutputStream() {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            ByteBuffer buffer = ByteBuffer.wrap(b, off, len);
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
        }
    };

    ChannelSocket(SocketChannel channel) {
        this.channel = channel;
    }

    @Override
    public InputStream getInputStream() {
        return in;
    }

    @Override
    public OutputStream getOutputStream() {
        return out;
    }

    @Override
    public boolean isConnected() {
        return channel.isConnected();
    }

    @Override
    public boolean isBound() {
        return true;
    }

    @Override
    public boolean isClosed() {
        return closed || !channel.isOpen();
    }

    @Override
    public void shutdownInput() throws IOException {
        inputShut = true;
        channel.shutdownInput();
    }

    @Override
    public void shutdownOutput() throws IOException {
        outputShut = true;
        channel.shutdownOutput();
    }

    @Override
    public boolean isInputShutdown() {
        return inputShut || !channel.isOpen();
    }

    @Override
    public boolean isOutputShutdown() {
        return outputShut || !channel.isOpen();
    }

    /**
     * The SSLSocket closes us right after a fatal alert; closing the channel with the peer's
     * bytes unread would send a reset that can overtake the alert. So this only ends our output;
     * the connection that owns the channel closes it.
     */
    @Override
    public void close() throws IOException {
        closed = true;
        if (channel.isOpen() && !outputShut) {
            shutdownOutput();
        }
    }

    /** No linger: the SSLSocket then sends its close_notify without waiting for a lock. */
    @Override
    public int getSoLinger() {
        return -1;
    }

    @Override
    public int getSoTimeout() {
        return 0;
    }

    @Override
    public void setSoTimeout(int timeout) {
        // the handshake's limit is TlsHandshake's deadline, the stream's the stall watchdog
    }

    @Override
    public InetAddress getInetAddress() {
        return remote() instanceof InetSocketAddress inet ? inet.getAddress() : null;
    }

    @Override
    public int getPort() {
        return remote() instanceof InetSocketAddress inet ? inet.getPort() : 0;
    }

    @Override
    public SocketAddress getRemoteSocketAddress() {
        return remote() instanceof InetSocketAddress inet ? inet : null;
    }

    private SocketAddress remote() {
        try {
            return channel.getRemoteAddress();
        } catch (IOException e) {
            return null;
        }
    }

    @Override
    public String toString() {
        return "ChannelSocket[" + remote() + "]";
    }
}
