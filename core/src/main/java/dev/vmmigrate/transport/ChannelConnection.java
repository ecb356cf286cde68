package dev.vmmigrate.transport;

import java.io.IOException;
import java.nio.channels.ByteChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.WritableByteChannel;
import java.util.Objects;

/**
 * A connection over one JDK or {@link FdChannel} byte channel: sockets (tcp, unix), files and
 * descriptors. The direction flags let a write-only file refuse {@link #input()} loudly instead
 * of failing on the first read with a less telling NonReadableChannelException.
 */
final class ChannelConnection implements Connection {

    /** How to wake threads blocked in the channel without releasing it (sockets: shutdown(2)). */
    @FunctionalInterface
    interface Unblocker {
        void unblock() throws IOException;
    }

    private final String description;
    private final ByteChannel channel;
    private final boolean readable;
    private final boolean writable;
    private final Unblocker unblocker;
    private final boolean backChannel;
    private final SocketChannel socket;

    ChannelConnection(String description, ByteChannel channel, boolean readable, boolean writable,
                      Unblocker unblocker) {
        this(description, channel, readable, writable, unblocker, false);
    }

    private ChannelConnection(String description, ByteChannel channel, boolean readable, boolean writable,
                              Unblocker unblocker, boolean backChannel) {
        this.description = Objects.requireNonNull(description);
        this.channel = Objects.requireNonNull(channel);
        this.readable = readable;
        this.writable = writable;
        this.unblocker = Objects.requireNonNull(unblocker);
        this.backChannel = backChannel;
        this.socket = channel instanceof SocketChannel s ? s : null;
    }

    /**
     * A connected socket. shutdown(2) wakes blocked readers (they see end of stream) and
     * writers (they fail) without releasing the descriptor, so close() stays the owner's job.
     */
    static ChannelConnection ofSocket(String description, SocketChannel socket) {
        return new ChannelConnection(description, socket, true, true, () -> {
            try {
                socket.shutdownInput();
            } finally {
                socket.shutdownOutput();
            }
        }, true);
    }

    /** The socket of a tcp: or unix: connection, for TLS to be layered over it; null otherwise. */
    SocketChannel socket() {
        return socket;
    }

    @Override
    public boolean hasBackChannel() {
        return backChannel;
    }

    @Override
    public ReadableByteChannel input() {
        if (!readable) throw new UnsupportedOperationException(description + " is write-only");
        return channel;
    }

    @Override
    public WritableByteChannel output() {
        if (!writable) throw new UnsupportedOperationException(description + " is read-only");
        return channel;
    }

    @Override
    public void shutdown() {
        try {
            unblocker.unblock();
        } catch (IOException | RuntimeException ignored) {
            // Best effort by contract: the connection may already be closed or broken.
        }
    }

    @Override
    public void close() throws IOException {
        channel.close(); // idempotent for every channel we wrap
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public String toString() {
        return description;
    }
}
