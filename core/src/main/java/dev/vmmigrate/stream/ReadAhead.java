package dev.vmmigrate.stream;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ReadableByteChannel;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reads a channel on a thread of its own into a few large chunks, so that the loader never
 * waits in (or pays for) the read system call: receiving over loopback TCP, the kernel's copy
 * and TCP work took a quarter of the loading thread, and that thread was the bottleneck.
 *
 * <p>Each chunk keeps {@link #HEADROOM} bytes free before its data: the consumer moves the
 * unread tail of the previous chunk there, so a value that straddles two reads is contiguous
 * without copying whole chunks. One read per chunk: the reader never waits for more data while
 * it holds data the consumer could use.
 */
final class ReadAhead implements AutoCloseable {
    /** Room before each chunk's data for the previous chunk's unread tail; the most one fill may ask. */
    static final int HEADROOM = 64 * 1024;
    private static final int CHUNK = 1 << 20;
    /** Chunks in all: the consumer's, and the ones read ahead of it. */
    private static final int CHUNKS = 4;

    /** A chunk's data lies between position and limit; position is at least {@link #HEADROOM}. */
    record Chunk(ByteBuffer buffer) {
    }

    /** What the reader hands over: a chunk, the end of the stream, or the read's failure. */
    private sealed interface Handover {
        record Data(Chunk chunk) implements Handover {
        }

        record End() implements Handover {
        }

        record Failed(IOException error) implements Handover {
        }
    }

    private final ReadableByteChannel channel;
    /**
     * The chunks' memory, freed as soon as neither the consumer nor the reader can use it (a
     * direct buffer would wait for a GC: the JIT warm-up's sixteen small loads kept 68 MiB).
     */
    private final Arena arena = Arena.ofShared();
    /** Who may still touch the chunks: the consumer, and the reader once started. The last one frees them. */
    private final AtomicInteger users = new AtomicInteger(1);
    private final BlockingQueue<Chunk> free = new ArrayBlockingQueue<>(CHUNKS);
    private final BlockingQueue<Handover> filled = new ArrayBlockingQueue<>(CHUNKS + 1);
    private Thread reader;
    private boolean finished;
    private boolean closed;

    ReadAhead(ReadableByteChannel channel) {
        this.channel = channel;
    }

    /**
     * The next chunk of the stream, or null at its end; blocks until the reader has one. The
     * reader starts with the first call.
     *
     * @throws IOException the read's failure, as the channel reported it
     */
    Chunk next() throws IOException {
        if (finished) {
            return null;
        }
        if (reader == null) {
            for (int i = 0; i < CHUNKS; i++) {
                free.add(new Chunk(arena.allocate(HEADROOM + CHUNK, 4096).asByteBuffer()));
            }
            users.incrementAndGet();
            reader = Thread.ofPlatform().name("migration-reader").daemon().start(this::readLoop);
        }
        Handover handover;
        try {
            handover = filled.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while reading the migration stream", e);
        }
        return switch (handover) {
            case Handover.Data(Chunk chunk) -> chunk;
            case Handover.End() -> {
                finished = true;
                yield null;
            }
            case Handover.Failed(IOException error) -> {
                finished = true;
                throw error;
            }
        };
    }

    /** Gives a chunk the consumer has finished with back to the reader. */
    void recycle(Chunk chunk) {
        free.add(chunk);
    }

    /**
     * Stops the reader; the consumer must not use a chunk afterwards. The caller closes the
     * channel too, which ends a read in progress on a socket or a file; a read on an inherited
     * pipe cannot be woken, so this does not wait for the reader: whichever of the two is last
     * frees the chunks.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        finished = true;
        Thread thread = reader;
        if (thread != null) {
            thread.interrupt();
        }
        release();
    }

    private void release() {
        if (users.decrementAndGet() == 0) {
            arena.close();
        }
    }

    private void readLoop() {
        try {
            readChunks();
        } finally {
            release();
        }
    }

    private void readChunks() {
        try {
            while (true) {
                Chunk chunk = free.take();
                ByteBuffer buffer = chunk.buffer();
                buffer.clear().position(HEADROOM);
                int read;
                try {
                    read = channel.read(buffer);
                } catch (ClosedByInterruptException e) {
                    return; // closed by the consumer
                } catch (IOException e) {
                    filled.put(new Handover.Failed(e));
                    return;
                }
                if (read < 0) {
                    filled.put(new Handover.End());
                    return;
                }
                buffer.flip().position(HEADROOM);
                filled.put(new Handover.Data(chunk));
            }
        } catch (InterruptedException e) {
            // the consumer closed the input
        }
    }
}
