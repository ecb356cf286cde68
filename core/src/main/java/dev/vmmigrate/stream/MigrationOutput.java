package dev.vmmigrate.stream;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The writing half of QEMU's QEMUFile: a buffered big-endian writer over a channel.
 *
 * <p>It counts every byte put (buffered or not), keeps the first I/O error and fails every later
 * call with it (QEMU's sticky error, so a loop can check once per pass), offers the rate-limit
 * hook the live engine uses, and a {@link #shutdown()} that another thread may call to unblock a
 * writer stuck in the channel. Not thread-safe except for {@code shutdown}, {@code error} and the
 * rate-limit setters.
 */
public final class MigrationOutput implements Closeable {
    private static final int BUFFER_SIZE = 256 * 1024;
    /**
     * In-memory outputs encode small things (device states for the digest): a heap buffer, not
     * native memory that would stay allocated until a GC happens to run.
     */
    private static final int MEMORY_BUFFER_SIZE = 16 * 1024;
    /**
     * Buffers one gathering write takes at most: 128 guest pages and their headers, 512 KiB
     * (the kernel's IOV_MAX is 1024).
     */
    private static final int MAX_VECTOR = 257;

    private final WritableByteChannel channel;
    /** The channel when it can write several buffers at once; null when it cannot. */
    private final GatheringByteChannel gathering;
    private final Runnable shutdownAction;
    private final ByteBuffer buffer;
    private final MemorySegment bufferSegment;
    /** What the next gathering write takes: slices of {@code buffer} and referenced bytes, in order. */
    private final ByteBuffer[] vector;
    private int vectorLength;
    /** Start of the buffered bytes not in {@code vector} yet. */
    private int bufferedFrom;
    /** Bytes referenced in {@code vector}, not yet written. */
    private long referencedBytes;
    private long flushedBytes;
    /** Bytes sent for this stream beside it (QEMU's multifd channels): they count for the rate limit. */
    private long sideBytes;
    private volatile IOException error;
    private volatile boolean shutdownRequested;

    private volatile long rateLimitBytes = Long.MAX_VALUE;
    private long rateLimitStart;

    /**
     * @param channel where bytes go
     * @param shutdownAction unblocks a write in progress on {@code channel} (socket shutdown, pipe
     *     close); runs at most once
     */
    public MigrationOutput(WritableByteChannel channel, Runnable shutdownAction) {
        this(channel, shutdownAction, ByteBuffer.allocateDirect(BUFFER_SIZE));
    }

    private MigrationOutput(WritableByteChannel channel, Runnable shutdownAction, ByteBuffer buffer) {
        this.channel = channel;
        this.gathering = channel instanceof GatheringByteChannel g ? g : null;
        this.vector = gathering != null ? new ByteBuffer[MAX_VECTOR] : null;
        this.shutdownAction = shutdownAction;
        this.buffer = buffer.order(ByteOrder.BIG_ENDIAN);
        this.bufferSegment = MemorySegment.ofBuffer(this.buffer);
    }

    /** An output collecting into memory, for tests and small encodings. */
    public static MigrationOutput to(ByteArrayOutputStream sink) {
        return new MigrationOutput(Channels.newChannel(sink), () -> { }, ByteBuffer.allocate(MEMORY_BUFFER_SIZE));
    }

    public void putU8(int value) throws IOException {
        ensure(1);
        buffer.put((byte) value);
    }

    public void putBe16(int value) throws IOException {
        ensure(2);
        buffer.putShort((short) value);
    }

    public void putBe32(int value) throws IOException {
        ensure(4);
        buffer.putInt(value);
    }

    public void putBe64(long value) throws IOException {
        ensure(8);
        buffer.putLong(value);
    }

    public void putBytes(byte[] bytes) throws IOException {
        putBytes(bytes, 0, bytes.length);
    }

    public void putBytes(byte[] bytes, int offset, int length) throws IOException {
        putBytes(MemorySegment.ofArray(bytes), offset, length);
    }

    /** Copies {@code length} bytes of {@code source} from {@code offset}: guest pages go out this way. */
    public void putBytes(MemorySegment source, long offset, long length) throws IOException {
        checkUsable();
        long done = 0;
        while (done < length) {
            if (!buffer.hasRemaining()) {
                flush();
            }
            int chunk = (int) Math.min(buffer.remaining(), length - done);
            MemorySegment.copy(source, ValueLayout.JAVA_BYTE, offset + done,
                    bufferSegment, ValueLayout.JAVA_BYTE, buffer.position(), chunk);
            buffer.position(buffer.position() + chunk);
            done += chunk;
        }
    }

    /**
     * Puts {@code length} bytes of {@code source} from {@code offset} without copying them, as
     * QEMU's qemu_put_buffer_async: the next flush writes them straight from {@code source} with
     * the buffered bytes around them in one gathering write. The bytes are read at that flush,
     * not now, which suits guest pages: a page the guest writes in between is dirty and goes
     * again in a later pass. {@code source} must stay mapped until the flush. A channel that
     * cannot gather (a pipe to a process, an in-memory sink) gets a copy, as {@link #putBytes}.
     */
    public void putReferenced(MemorySegment source, long offset, int length) throws IOException {
        if (gathering == null) {
            putBytes(source, offset, length);
            return;
        }
        checkUsable();
        if (vectorLength + 3 > vector.length) { // room for the buffered bytes, these, and a tail
            flush();
        }
        addBufferedToVector();
        vector[vectorLength++] = source.asSlice(offset, length).asByteBuffer();
        referencedBytes += length;
    }

    /** QEMU's counted string: u8 length then the bytes (section and RAM block ids). */
    public void putCountedString(String value) throws IOException {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > 255) {
            throw new IllegalArgumentException("id '" + value + "' is longer than 255 bytes");
        }
        putU8(bytes.length);
        putBytes(bytes);
    }

    /** Bytes put so far, buffered, referenced or written (QEMU's qemu_ftell). */
    public long position() {
        return flushedBytes + buffer.position() + referencedBytes;
    }

    /**
     * Counts {@code bytes} handed to QEMU's multifd channels for this stream: they are no part of
     * its offsets, but the rate limit and {@link #transferred()} take them (QEMU's
     * qemu_file_acct_rate_limit from multifd_send_pages). The writing thread's call.
     */
    public void addSideBytes(long bytes) {
        sideBytes += bytes;
    }

    /** {@link #position()} plus the bytes sent beside the stream: what the link carried for it. */
    public long transferred() {
        return position() + sideBytes;
    }

    /**
     * Counts from {@code position} on, with nothing buffered (after a flush): a resumed
     * migration's new connection continues the stream where the old one stopped, after a hello
     * of its own, so offsets stay those of one stream (the destination reports how far it got
     * in them).
     */
    public void rebase(long position) {
        if (buffer.position() != 0 || vectorLength != 0) {
            throw new IllegalStateException("rebase with bytes buffered");
        }
        flushedBytes = position;
        rateLimitStart = transferred();
    }

    /** Writes out what is buffered and referenced; blocks while the channel is full. */
    public void flush() throws IOException {
        checkUsable();
        try {
            if (vectorLength > 0) {
                addBufferedToVector();
                writeVector();
            } else {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    flushedBytes += channel.write(buffer);
                    checkNotShutDown();
                }
            }
        } catch (IOException e) {
            throw fail(shutdownRequested ? new IOException("migration stream was shut down", e) : e);
        } finally {
            buffer.clear();
            bufferedFrom = 0;
            if (vectorLength > 0) {
                Arrays.fill(vector, 0, vectorLength, null); // no hold on guest memory
                vectorLength = 0;
                referencedBytes = 0;
            }
        }
    }

    private void writeVector() throws IOException {
        int first = 0;
        while (first < vectorLength) {
            flushedBytes += gathering.write(vector, first, vectorLength - first);
            checkNotShutDown();
            while (first < vectorLength && !vector[first].hasRemaining()) {
                first++;
            }
        }
    }

    /** The bytes buffered since the last reference join the vector, as a slice of the buffer. */
    private void addBufferedToVector() {
        int end = buffer.position();
        if (end > bufferedFrom) {
            vector[vectorLength++] = buffer.slice(bufferedFrom, end - bufferedFrom);
            bufferedFrom = end;
        }
    }

    private void checkNotShutDown() throws IOException {
        if (shutdownRequested) {
            throw new IOException("migration stream was shut down");
        }
    }

    /** The first error met, or null. */
    public IOException error() {
        return error;
    }

    /** Records an error from outside (a peer that reported failure); the first one sticks. */
    public IOException fail(IOException e) {
        synchronized (this) {
            if (error == null) {
                error = e;
            }
            return error;
        }
    }

    /** Bytes allowed per rate-limit window; {@code Long.MAX_VALUE} lifts the limit. */
    public void setRateLimit(long bytesPerWindow) {
        rateLimitBytes = Math.max(1, bytesPerWindow);
    }

    public long rateLimit() {
        return rateLimitBytes;
    }

    /** True when this window's allowance is spent (or the stream is in error, as in QEMU). */
    public boolean isRateLimited() {
        if (error != null) {
            return true;
        }
        return transferred() - rateLimitStart >= rateLimitBytes;
    }

    /** Starts a new rate-limit window at the current position. */
    public void resetRateLimit() {
        rateLimitStart = transferred();
    }

    /**
     * Starts the next rate-limit window, as QEMU's qemu_file_reset_rate_limit, except that what
     * the last window sent beyond its allowance (the record that crossed it, the section's end)
     * counts against this one, up to one allowance. QEMU forgives it, which at 1 MiB/s runs a
     * few percent over the limit; carried over, the rate over many windows is the limit.
     */
    public void nextRateLimitWindow() {
        long now = transferred();
        long over = now - rateLimitStart - rateLimitBytes; // no overflow: 0 <= now - start, limit > 0
        rateLimitStart = over > 0 ? now - Math.min(over, rateLimitBytes) : now;
    }

    /**
     * Unblocks a writer from another thread: later and blocked writes fail. Used by cancel, as
     * the seeds' qemu_file_shutdown.
     */
    public void shutdown() {
        if (shutdownRequested) {
            return;
        }
        shutdownRequested = true;
        fail(new IOException("migration stream was shut down"));
        shutdownAction.run();
    }

    /** Flushes what is buffered (unless in error) and closes the channel. */
    @Override
    public void close() throws IOException {
        try {
            if (error == null && (buffer.position() > 0 || vectorLength > 0)) {
                flush();
            }
        } finally {
            channel.close();
        }
    }

    private void ensure(int bytes) throws IOException {
        checkUsable();
        if (buffer.remaining() < bytes) {
            flush();
        }
    }

    private void checkUsable() throws IOException {
        IOException e = error;
        if (e != null) {
            throw e;
        }
    }
}
