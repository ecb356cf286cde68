package dev.vmmigrate.stream;

import java.io.ByteArrayInputStream;
import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.ScatteringByteChannel;
import java.nio.charset.StandardCharsets;

/**
 * The reading half of QEMU's QEMUFile: a buffered big-endian reader over a channel that knows its
 * byte offset, so every decoding error can say where it happened.
 *
 * <p>A stream that ends inside a value is reported as truncated with the offset of the value;
 * callers never see a short read.
 */
public final class MigrationInput implements Closeable {
    /** The most {@link #peekBytes} returns. */
    public static final int MAX_PEEK = ReadAhead.HEADROOM;
    /** In-memory inputs: a heap buffer, not native memory that stays allocated until a GC. */
    private static final int MEMORY_BUFFER_SIZE = MAX_PEEK;
    /** {@link #readBytes} allocates at most this much before the bytes arrive. */
    private static final int READ_BYTES_STEP = 1 << 20;

    private final ReadableByteChannel channel;
    /** Reads the channel on a thread of its own; null for inputs in memory. */
    private final ReadAhead readAhead;
    /** The read-ahead chunk {@code buffer} is, to give back once it is used up. */
    private ReadAhead.Chunk chunk;
    private ByteBuffer buffer;
    private MemorySegment bufferSegment;
    /**
     * For an input read on the caller's thread: the most one read takes into the buffer unless a
     * value needs more, so that bytes bound for guest memory ({@link #readFully}) mostly go
     * there straight instead of through the buffer; 0 reads as much as the buffer holds.
     */
    private final int readStep;
    /** Stream offset of the buffer's index 0, so that position() is this plus buffer.position(). */
    private long bufferStart;
    private boolean endOfStream;

    /** An input over {@code channel}, read ahead of the caller on a thread of its own. */
    public MigrationInput(ReadableByteChannel channel) {
        this(channel, ByteBuffer.allocate(0), new ReadAhead(channel), 0);
    }

    private MigrationInput(ReadableByteChannel channel, ByteBuffer buffer, ReadAhead readAhead, int readStep) {
        this.channel = channel;
        this.readAhead = readAhead;
        this.readStep = readStep;
        use(buffer);
        this.buffer.limit(0);
    }

    /**
     * An input over {@code channel} that reads it on the caller's thread, {@code readStep} bytes
     * at a time (more only when a value needs more), through a buffer of {@link #MAX_PEEK}: for a
     * reader on a virtual thread, where a blocking read costs no platform thread and no
     * read-ahead memory (QEMU's multifd channels, one such reader each). With a step of one
     * packet header, the header comes through the buffer and the pages after it straight into
     * guest memory ({@link #readFully}).
     */
    public static MigrationInput readOnCallerThread(ReadableByteChannel channel, int readStep) {
        if (readStep <= 0 || readStep > MAX_PEEK) {
            throw new IllegalArgumentException("read step of " + readStep + " bytes is not within 1.." + MAX_PEEK);
        }
        return new MigrationInput(channel, ByteBuffer.allocateDirect(MAX_PEEK), null, readStep);
    }

    /** An input over bytes in memory. */
    public static MigrationInput of(byte[] bytes) {
        return new MigrationInput(Channels.newChannel(new ByteArrayInputStream(bytes)),
                ByteBuffer.allocate(MEMORY_BUFFER_SIZE), null, 0);
    }

    /** Reads from {@code next} from now on; its segment spans all of it, whatever its position. */
    private void use(ByteBuffer next) {
        buffer = next.order(ByteOrder.BIG_ENDIAN);
        bufferSegment = MemorySegment.ofBuffer(next.duplicate().clear());
    }

    /** Offset of the next byte to be read. */
    public long position() {
        return bufferStart + buffer.position();
    }

    /**
     * Counts from {@code position} on: a resumed migration's new connection continues the
     * stream where the source's old one stopped, so offsets stay those of one stream.
     */
    public void rebase(long position) {
        bufferStart = position - buffer.position();
    }

    public int readU8() throws IOException {
        require(1, "byte");
        return buffer.get() & 0xff;
    }

    /** The next byte without consuming it, or -1 at the end of the stream (QEMU's qemu_peek_byte). */
    public int peekU8() throws IOException {
        if (!fill(1)) {
            return -1;
        }
        return buffer.get(buffer.position()) & 0xff;
    }

    public int readBe16() throws IOException {
        require(2, "be16");
        return buffer.getShort() & 0xffff;
    }

    public int readBe32() throws IOException {
        require(4, "be32");
        return buffer.getInt();
    }

    public long readBe64() throws IOException {
        require(8, "be64");
        return buffer.getLong();
    }

    /**
     * Reads exactly {@code length} bytes. A large length is taken in growing steps, so a length a
     * stream claims costs memory only as its bytes actually arrive (a truncated claim fails early).
     */
    public byte[] readBytes(int length) throws IOException {
        if (length < 0) {
            throw new IllegalArgumentException("negative length " + length);
        }
        int step = Math.min(length, READ_BYTES_STEP);
        byte[] bytes = new byte[step];
        int done = 0;
        while (true) {
            readInto(MemorySegment.ofArray(bytes), done, bytes.length - done);
            done = bytes.length;
            if (done == length) {
                return bytes;
            }
            bytes = java.util.Arrays.copyOf(bytes, (int) Math.min(length, 2L * done));
        }
    }

    /** Reads exactly {@code length} bytes into {@code target} at {@code offset} (guest pages land here). */
    public void readInto(MemorySegment target, long offset, long length) throws IOException {
        consume(target, offset, length);
    }

    /**
     * Fills each of {@code targets} from its position to its limit with the next bytes, in order.
     * What is buffered already is copied; on a channel read on the caller's thread that can
     * scatter (a socket), the rest goes straight into the targets, in as few reads as the
     * channel allows, with no copy through the buffer (QEMU's multifd_recv reads a packet's
     * pages into guest memory with one readv the same way). Leaves each target's position at its
     * limit.
     */
    public void readFully(ByteBuffer[] targets) throws IOException {
        long start = position();
        long wanted = 0;
        for (ByteBuffer target : targets) {
            wanted += target.remaining();
        }
        int next = 0;
        while (next < targets.length) {
            ByteBuffer target = targets[next];
            if (!target.hasRemaining()) {
                next++;
            } else if (buffer.hasRemaining()) {
                int chunk = Math.min(target.remaining(), buffer.remaining());
                target.put(target.position(), buffer, buffer.position(), chunk);
                target.position(target.position() + chunk);
                buffer.position(buffer.position() + chunk);
            } else if (readAhead == null && !endOfStream && channel instanceof ScatteringByteChannel scattering) {
                long read = scattering.read(targets, next, targets.length - next);
                if (read < 0) {
                    endOfStream = true;
                    throw truncated(wanted, "bytes", start);
                }
                bufferStart += read; // bytes of the stream that passed the (empty) buffer by
            } else {
                try {
                    consume(MemorySegment.ofBuffer(target), 0, target.remaining());
                } catch (TruncatedStreamException e) {
                    throw truncated(wanted, "bytes", start); // named as one read, as above
                }
                target.position(target.limit());
            }
        }
    }

    public void skip(long length) throws IOException {
        consume(null, 0, length);
    }

    /** Takes {@code length} bytes off the stream, copying them to {@code target} unless it is null. */
    private void consume(MemorySegment target, long offset, long length) throws IOException {
        long start = position();
        long done = 0;
        while (done < length) {
            if (!buffer.hasRemaining() && !fill(1)) {
                throw truncated(length, "bytes", start);
            }
            int chunk = (int) Math.min(buffer.remaining(), length - done);
            if (target != null) {
                MemorySegment.copy(bufferSegment, ValueLayout.JAVA_BYTE, buffer.position(),
                        target, ValueLayout.JAVA_BYTE, offset + done, chunk);
            }
            buffer.position(buffer.position() + chunk);
            done += chunk;
        }
    }

    /** QEMU's counted string: u8 length then that many bytes. */
    public String readCountedString() throws IOException {
        int length = readU8();
        return new String(readBytes(length), StandardCharsets.UTF_8);
    }

    /**
     * Up to {@code length} (at most {@link #MAX_PEEK}) next bytes without consuming them; fewer
     * if the stream ends first. Lets a receiver look at the stream's RAM layout before loading.
     */
    public byte[] peekBytes(int length) throws IOException {
        int wanted = Math.min(length, MAX_PEEK);
        fill(wanted);
        byte[] bytes = new byte[Math.min(wanted, buffer.remaining())];
        buffer.get(buffer.position(), bytes);
        return bytes;
    }

    /**
     * Every byte already here, up to {@link #MAX_PEEK}, once there are at least {@code length}
     * (fewer only when the stream ends first), without consuming them. Unlike {@link #peekBytes}
     * it never waits for more than {@code length}: a source may send no more before the receiver
     * acts on what came (QEMU's multifd source, whose channels wait for the main stream).
     */
    public byte[] peekAtLeast(int length) throws IOException {
        fill(Math.min(length, MAX_PEEK));
        byte[] bytes = new byte[Math.min(MAX_PEEK, buffer.remaining())];
        buffer.get(buffer.position(), bytes);
        return bytes;
    }

    /** True when no byte is left. */
    public boolean atEnd() throws IOException {
        return !fill(1);
    }

    @Override
    public void close() throws IOException {
        try {
            channel.close();
        } finally {
            if (readAhead != null) {
                readAhead.close();
            }
        }
    }

    private void require(int bytes, String what) throws IOException {
        if (!fill(bytes)) {
            throw truncated(bytes, what, position());
        }
    }

    private StreamFormatException truncated(long wanted, String what, long at) {
        return new TruncatedStreamException("truncated stream: it ends inside a " + wanted + "-byte "
                + (what.equals("bytes") ? "read" : what + " value"), at);
    }

    /** Makes at least {@code bytes} (<= {@link #MAX_PEEK}) available; false if the stream ends first. */
    private boolean fill(int bytes) throws IOException {
        if (buffer.remaining() >= bytes) {
            return true;
        }
        if (endOfStream) {
            return false;
        }
        return readAhead != null ? fillFromReadAhead(bytes) : fillFromMemory(bytes);
    }

    /** Moves on to the reader's next chunks, carrying the unread tail over, until {@code bytes} are there. */
    private boolean fillFromReadAhead(int bytes) throws IOException {
        while (buffer.remaining() < bytes) {
            ReadAhead.Chunk next = readAhead.next();
            if (next == null) {
                endOfStream = true;
                return false;
            }
            ByteBuffer data = next.buffer();
            int tail = buffer.remaining(); // < bytes <= HEADROOM: fits before the chunk's data
            int start = data.position() - tail;
            data.put(start, buffer, buffer.position(), tail);
            long at = position();
            if (chunk != null) {
                readAhead.recycle(chunk);
            }
            chunk = next;
            use(data);
            data.position(start);
            bufferStart = at - start;
        }
        return true;
    }

    /** An input in memory, or one read on the caller's thread: compacts its buffer and reads on into it. */
    private boolean fillFromMemory(int bytes) throws IOException {
        bufferStart += buffer.position();
        buffer.compact();
        try {
            while (buffer.position() < bytes) {
                if (readStep > 0) {
                    buffer.limit(Math.max(bytes, Math.min(buffer.capacity(), readStep)));
                }
                int read = channel.read(buffer);
                if (read < 0) {
                    endOfStream = true;
                    break;
                }
            }
        } finally {
            buffer.flip();
        }
        return buffer.remaining() >= bytes;
    }
}
