package dev.vmmigrate.migration;

import dev.vmmigrate.transport.Connection;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A write-only connection that throws its bytes away as fast as they come, so the sender's own
 * limits alone set the pace; it can hold the first write until {@link #open()} (the migration
 * then waits in setup, deterministically, while a test changes its settings).
 */
final class SinkConnection implements Connection {
    private final CountDownLatch gate;
    private final AtomicLong written = new AtomicLong();
    private volatile boolean closed;

    private SinkConnection(boolean held) {
        this.gate = new CountDownLatch(held ? 1 : 0);
    }

    /** A sink that takes every write at once. */
    static SinkConnection open() {
        return new SinkConnection(false);
    }

    /** A sink whose writes wait for {@link #release()}. */
    static SinkConnection held() {
        return new SinkConnection(true);
    }

    void release() {
        gate.countDown();
    }

    long written() {
        return written.get();
    }

    @Override
    public ReadableByteChannel input() {
        throw new UnsupportedOperationException("write-only");
    }

    @Override
    public WritableByteChannel output() {
        return new WritableByteChannel() {
            @Override
            public int write(ByteBuffer src) throws IOException {
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", e);
                }
                if (closed) {
                    throw new ClosedChannelException();
                }
                int n = src.remaining();
                src.position(src.limit());
                written.addAndGet(n);
                return n;
            }

            @Override
            public boolean isOpen() {
                return !closed;
            }

            @Override
            public void close() {
                closed = true;
            }
        };
    }

    @Override
    public void shutdown() {
        closed = true;
        gate.countDown();
    }

    @Override
    public void close() {
        closed = true;
        gate.countDown();
    }

    @Override
    public String description() {
        return "sink";
    }
}
