package dev.vmmigrate.transport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.ScatteringByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * A connection whose first bytes were read already (to screen it, {@link HeaderGate}): its input
 * gives them again before the rest, so the loader sees the stream whole.
 */
final class ReplayedConnection implements Connection {
    private final Connection connection;
    private final ReadableByteChannel input;

    ReplayedConnection(Connection connection, byte[] head) {
        this.connection = connection;
        ByteBuffer replay = ByteBuffer.wrap(head.clone());
        ReadableByteChannel rest = connection.input();
        // Scatters when the connection does (a socket): a multifd channel reads pages straight
        // into guest memory with one readv once the replayed bytes are gone.
        this.input = new ScatteringByteChannel() {
            @Override
            public int read(ByteBuffer dst) throws IOException {
                if (!replay.hasRemaining()) {
                    return rest.read(dst);
                }
                int n = Math.min(dst.remaining(), replay.remaining());
                dst.put(replay.slice(replay.position(), n));
                replay.position(replay.position() + n);
                return n;
            }

            @Override
            public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
                Objects.checkFromIndexSize(offset, length, dsts.length);
                if (!replay.hasRemaining() && rest instanceof ScatteringByteChannel scattering) {
                    return scattering.read(dsts, offset, length);
                }
                for (int i = offset; i < offset + length; i++) {
                    if (dsts[i].hasRemaining()) {
                        return read(dsts[i]);
                    }
                }
                return 0;
            }

            @Override
            public long read(ByteBuffer[] dsts) throws IOException {
                return read(dsts, 0, dsts.length);
            }

            @Override
            public boolean isOpen() {
                return rest.isOpen();
            }

            @Override
            public void close() throws IOException {
                rest.close();
            }
        };
    }

    @Override
    public ReadableByteChannel input() {
        return input;
    }

    @Override
    public WritableByteChannel output() {
        return connection.output();
    }

    @Override
    public void shutdown() {
        connection.shutdown();
    }

    @Override
    public void close() throws IOException {
        connection.close();
    }

    @Override
    public boolean hasBackChannel() {
        return connection.hasBackChannel();
    }

    @Override
    public String description() {
        return connection.description();
    }

    @Override
    public String toString() {
        return connection.toString();
    }
}
