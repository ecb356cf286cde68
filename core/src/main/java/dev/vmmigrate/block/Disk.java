package dev.vmmigrate.block;

import dev.vmmigrate.ram.DirtyBitmap;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * A guest disk: a raw image file of fixed length, read and written with positional I/O, and a
 * dirty bitmap with one bit per 1 MiB chunk (QEMU's block-migration dirty granularity) that every
 * tracked write marks <em>after</em> writing.
 *
 * <p>Positional {@link FileChannel} I/O through direct buffers: a 1 MiB chunk is one
 * {@code pread}/{@code pwrite}, large images need no address space, and a file shrunk behind our
 * back gives an I/O error rather than a fault. The image is locked exclusively while open, as
 * QEMU locks its images, so two processes cannot write it at once. Thread-safe.
 */
public final class Disk implements AutoCloseable {
    /** Bytes per dirty-tracking chunk: QEMU's BLK_MIG_BLOCK_SIZE. */
    public static final int CHUNK_SIZE = 1 << 20;

    private final String id;
    private final Path path;
    private final FileChannel channel;
    private final FileLock lock;
    private final long length;
    private final DirtyBitmap dirty;

    private Disk(String id, Path path, FileChannel channel, FileLock lock, long length) {
        this.id = id;
        this.path = path;
        this.channel = channel;
        this.lock = lock;
        this.length = length;
        this.dirty = new DirtyBitmap(chunkCount(length));
    }

    /**
     * Opens an existing image for reading and writing.
     *
     * @param id the device name on the wire (e.g. {@code disk0}): 1 to 255 UTF-8 bytes
     * @throws IOException naming the image when it is missing, empty, unreadable or in use
     */
    public static Disk open(String id, Path image) throws IOException {
        checkId(id);
        Objects.requireNonNull(image, "image");
        FileChannel channel;
        try {
            channel = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (NoSuchFileException e) {
            throw new IOException("disk image " + image + " does not exist", e);
        } catch (IOException e) {
            throw new IOException("cannot open disk image " + image + ": " + e.getMessage(), e);
        }
        try {
            FileLock lock = lock(channel, image);
            long length = channel.size();
            if (length == 0) {
                lock.release();
                throw new IOException("disk image " + image + " is empty");
            }
            return new Disk(id, image, channel, lock, length);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** Creates a new sparse, all-zero image of {@code length} bytes (refused if the file exists) and opens it. */
    public static Disk create(String id, Path image, long length) throws IOException {
        checkId(id);
        if (length <= 0) {
            throw new IllegalArgumentException("disk size " + length + " is not positive");
        }
        try (FileChannel channel = FileChannel.open(image, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.allocate(1), length - 1);
        }
        return open(id, image);
    }

    private static FileLock lock(FileChannel channel, Path image) throws IOException {
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        }
        if (lock == null) {
            throw new IOException("disk image " + image + " is in use: locked by another process or disk");
        }
        return lock;
    }

    private static void checkId(String id) {
        Objects.requireNonNull(id, "id");
        int bytes = id.getBytes(StandardCharsets.UTF_8).length;
        if (bytes == 0 || bytes > 255) {
            throw new IllegalArgumentException("disk id '" + id + "' must have 1 to 255 bytes");
        }
    }

    static long chunkCount(long length) {
        return (length + CHUNK_SIZE - 1) / CHUNK_SIZE;
    }

    /** The device name on the wire. */
    public String id() {
        return id;
    }

    /** The image file. */
    public Path path() {
        return path;
    }

    /** Size in bytes (the image file's size when opened; it never changes). */
    public long length() {
        return length;
    }

    /** Number of 1 MiB chunks, the last one possibly shorter. */
    public long chunkCount() {
        return chunkCount(length);
    }

    /** Bytes of chunk {@code chunk}: {@link #CHUNK_SIZE}, or less for a short last chunk. */
    public int chunkLength(long chunk) {
        Objects.checkIndex(chunk, chunkCount());
        return (int) Math.min(CHUNK_SIZE, length - chunk * CHUNK_SIZE);
    }

    /** One bit per chunk, set by every tracked write. */
    public DirtyBitmap dirty() {
        return dirty;
    }

    /** Reads {@code dst.remaining()} bytes from {@code offset} into {@code dst}. */
    public void read(long offset, ByteBuffer dst) throws IOException {
        checkRange(offset, dst.remaining());
        long position = offset;
        while (dst.hasRemaining()) {
            int n = channel.read(dst, position);
            if (n < 0) {
                throw new IOException("disk image " + path + " ends at " + position + ", before its size "
                        + length + " (shrunk while open?)");
            }
            position += n;
        }
    }

    /** Reads {@code count} bytes from {@code offset}. */
    public byte[] read(long offset, int count) throws IOException {
        byte[] bytes = new byte[count];
        read(offset, ByteBuffer.wrap(bytes));
        return bytes;
    }

    /** Writes {@code data} at {@code offset}, then marks the chunks it touched dirty. */
    public void write(long offset, byte[] data) throws IOException {
        write(offset, ByteBuffer.wrap(data));
    }

    /** Writes {@code data} at {@code offset}, then marks the chunks it touched dirty. */
    public void write(long offset, MemorySegment data) throws IOException {
        write(offset, data.asByteBuffer());
    }

    /** Writes {@code src} (its remaining bytes) at {@code offset}, then marks the chunks it touched dirty. */
    public void write(long offset, ByteBuffer src) throws IOException {
        int count = src.remaining();
        writeUntracked(offset, src);
        markDirty(offset, count);
    }

    /** Writes {@code count} zero bytes at {@code offset}, then marks the chunks it touched dirty. */
    public void writeZeroes(long offset, long count) throws IOException {
        checkRange(offset, count);
        ByteBuffer zeros = ByteBuffer.allocateDirect((int) Math.min(count, CHUNK_SIZE));
        long done = 0;
        while (done < count) {
            zeros.clear().limit((int) Math.min(zeros.capacity(), count - done));
            writeUntracked(offset + done, zeros);
            done += zeros.limit();
        }
        markDirty(offset, count);
    }

    /** Writes without marking dirty: what a migration's receiver writes is not guest activity. */
    void writeUntracked(long offset, ByteBuffer src) throws IOException {
        checkRange(offset, src.remaining());
        long position = offset;
        while (src.hasRemaining()) {
            position += channel.write(src, position);
        }
    }

    /** Flushes written data to stable storage. */
    public void force() throws IOException {
        channel.force(false);
    }

    /** Releases the lock and closes the image; idempotent. */
    @Override
    public void close() throws IOException {
        if (channel.isOpen()) {
            try {
                lock.release();
            } finally {
                channel.close();
            }
        }
    }

    @Override
    public String toString() {
        return "disk '" + id + "' (" + path + ", " + length + " bytes)";
    }

    private void markDirty(long offset, long count) {
        if (count == 0) {
            return;
        }
        for (long c = offset / CHUNK_SIZE, last = (offset + count - 1) / CHUNK_SIZE; c <= last; c++) {
            dirty.mark(c);
        }
    }

    private void checkRange(long offset, long count) {
        if (offset < 0 || count < 0 || offset > length - count) {
            throw new IndexOutOfBoundsException(count + " bytes at offset " + offset + " are outside " + this);
        }
    }
}
