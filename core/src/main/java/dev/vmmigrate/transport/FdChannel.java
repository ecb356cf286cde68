package dev.vmmigrate.transport;

import dev.vmmigrate.os.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ReadOnlyBufferException;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A blocking channel over a descriptor number we did not open (pipe, file or socket), doing
 * read(2) and write(2) through the FFM API.
 *
 * <p>Direct buffers are passed to the kernel as they are; heap buffers go through a native
 * bounce buffer (a heap array cannot be handed to a call that may block). Reads and writes
 * may run at the same time on two threads (a socket in both directions). Calls are retried on
 * EINTR, and on EAGAIN after poll(2), since an inherited descriptor may be non-blocking.
 *
 * <p>Unlike the JDK's channels this one is not interruptible, and {@link #shutdown()} can
 * wake blocked threads only on a socket: a pipe or a file has no such call. Close only after
 * the threads using the channel are done, or the number may already name another file.
 */
final class FdChannel implements ByteChannel {

    private static final int BOUNCE_SIZE = 256 * 1024;

    private final int fd;
    private final AtomicBoolean closed = new AtomicBoolean();
    // Freed by the GC rather than by close(): memory must stay valid while a blocked
    // read(2) may still write into it, and a shared arena cannot be closed under a call.
    private final Arena arena = Arena.ofAuto();
    private final Object readLock = new Object();
    private final Object writeLock = new Object();
    // shutdown(2) and close(2) under one lock: a shutdown racing a close must never reach a
    // number the kernel has already handed to some other file. Neither call blocks.
    private final Object stateLock = new Object();
    private final MemorySegment readState = Libc.newCallState(arena);
    private final MemorySegment writeState = Libc.newCallState(arena);
    private MemorySegment readBounce;  // guarded by readLock, allocated on first heap read
    private MemorySegment writeBounce; // guarded by writeLock

    FdChannel(int fd) {
        this.fd = fd;
    }

    /**
     * The access mode (O_RDONLY, O_WRONLY or O_RDWR) the descriptor was opened with.
     *
     * @throws IOException "fd 7 is not an open descriptor"
     */
    static int accessMode(int fd) throws IOException {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment state = Libc.newCallState(call);
            int flags = Libc.fcntl(state, fd, Libc.F_GETFL);
            if (flags >= 0) return flags & Libc.O_ACCMODE;
            int errno = Libc.errno(state);
            if (errno == Libc.EBADF) throw new IOException("fd " + fd + " is not an open descriptor");
            throw new IOException("cannot inspect fd " + fd + ": " + Libc.describe(errno));
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (dst.isReadOnly()) throw new ReadOnlyBufferException();
        synchronized (readLock) {
            ensureOpen();
            if (!dst.hasRemaining()) return 0;
            MemorySegment target = MemorySegment.ofBuffer(dst); // from position to limit
            long n;
            if (target.isNative()) {
                n = readOnce(target, target.byteSize());
            } else {
                if (readBounce == null) readBounce = arena.allocate(BOUNCE_SIZE);
                n = readOnce(readBounce, Math.min(target.byteSize(), BOUNCE_SIZE));
                MemorySegment.copy(readBounce, 0, target, 0, n);
            }
            if (n == 0) return -1; // read(2) returns 0 only at end of stream when asked for bytes
            dst.position(dst.position() + (int) n);
            return (int) n;
        }
    }

    /** Writes all of {@code src} (a blocking channel's contract), in as many calls as needed. */
    @Override
    public int write(ByteBuffer src) throws IOException {
        synchronized (writeLock) {
            ensureOpen();
            int start = src.position();
            int total = src.remaining();
            MemorySegment source = MemorySegment.ofBuffer(src);
            long done = 0;
            try {
                while (done < total) {
                    long left = total - done;
                    if (source.isNative()) {
                        done += writeOnce(source.asSlice(done), left);
                    } else {
                        if (writeBounce == null) writeBounce = arena.allocate(BOUNCE_SIZE);
                        long chunk = Math.min(left, BOUNCE_SIZE);
                        MemorySegment.copy(source, done, writeBounce, 0, chunk);
                        long written = 0;
                        while (written < chunk) written += writeOnce(writeBounce.asSlice(written), chunk - written);
                        done += chunk;
                    }
                }
            } finally {
                src.position(start + (int) done);
            }
            return total;
        }
    }

    private long readOnce(MemorySegment buffer, long count) throws IOException {
        while (true) {
            long n = Libc.read(readState, fd, buffer, count);
            if (n >= 0) return n;
            retryOrThrow("read from", Libc.errno(readState), readState, Libc.POLLIN);
        }
    }

    private long writeOnce(MemorySegment buffer, long count) throws IOException {
        while (true) {
            long n = Libc.write(writeState, fd, buffer, count);
            if (n > 0) return n;
            if (n == 0) throw new IOException("write to fd " + fd + " failed: wrote nothing");
            retryOrThrow("write to", Libc.errno(writeState), writeState, Libc.POLLOUT);
        }
    }

    /** Returns when the call should be retried; throws otherwise. */
    private void retryOrThrow(String what, int errno, MemorySegment state, short pollEvents) throws IOException {
        if (errno == Libc.EINTR) return;
        if (errno == Libc.EAGAIN) {
            try (Arena call = Arena.ofConfined()) {
                if (Libc.pollOne(call, state, fd, pollEvents) >= 0 || Libc.errno(state) == Libc.EINTR) return;
                errno = Libc.errno(state);
            }
        }
        if (closed.get()) throw new AsynchronousCloseException();
        throw new IOException(what + " fd " + fd + " failed: " + Libc.describe(errno));
    }

    /**
     * shutdown(2) with SHUT_RDWR: a blocked reader sees end of stream and a blocked writer
     * fails. Only sockets have this; on a pipe or file it does nothing (ENOTSOCK is ignored).
     */
    void shutdown() {
        synchronized (stateLock) {
            if (closed.get()) return; // the number may already be someone else's
            try (Arena call = Arena.ofConfined()) {
                Libc.shutdown(Libc.newCallState(call), fd, Libc.SHUT_RDWR);
            }
        }
    }

    @Override
    public boolean isOpen() {
        return !closed.get();
    }

    /** close(2), once. EINTR is not retried: Linux has released the number anyway. */
    @Override
    public void close() throws IOException {
        synchronized (stateLock) {
            if (!closed.compareAndSet(false, true)) return;
            try (Arena call = Arena.ofConfined()) {
                MemorySegment state = Libc.newCallState(call);
                if (Libc.close(state, fd) < 0 && Libc.errno(state) != Libc.EINTR) {
                    throw new IOException("close of fd " + fd + " failed: " + Libc.describe(Libc.errno(state)));
                }
            }
        }
    }

    private void ensureOpen() throws ClosedChannelException {
        if (closed.get()) throw new ClosedChannelException();
    }

    @Override
    public String toString() {
        return "fd " + fd;
    }
}
