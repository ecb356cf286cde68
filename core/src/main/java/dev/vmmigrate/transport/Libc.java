package dev.vmmigrate.transport;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The few libc calls {@code fd:N} needs, through the FFM API: the JDK has no public way to
 * use a descriptor number it did not open itself. Linux on a 64-bit CPU is assumed
 * (size_t is a long; errno and flag values are Linux's). Every call takes a call-state
 * segment (see {@link #newCallState}) in which the FFM linker saves errno right after the
 * call, before the JVM can clobber it.
 */
final class Libc {
    private Libc() {}

    static final int EINTR = 4;
    static final int EBADF = 9;
    static final int EAGAIN = 11; // also EWOULDBLOCK
    static final int ENOTSOCK = 88;

    static final int F_GETFL = 3;
    static final int O_ACCMODE = 3;
    static final int O_RDONLY = 0;
    static final int O_WRONLY = 1;
    static final int SHUT_RDWR = 2;
    static final short POLLIN = 0x1;
    static final short POLLOUT = 0x4;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    /** struct pollfd { int fd; short events; short revents; } */
    private static final StructLayout POLLFD = MemoryLayout.structLayout(JAVA_INT, JAVA_SHORT, JAVA_SHORT);

    private static final MethodHandle READ = downcall("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = downcall("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle CLOSE = downcall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle SHUTDOWN = downcall("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle POLL = downcall("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    // fcntl is variadic: declare where the fixed arguments end, even though we pass no third one.
    private static final MethodHandle FCNTL = downcall("fcntl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2));

    private static MethodHandle downcall(String name, FunctionDescriptor descriptor, Linker.Option... extra) {
        Linker.Option[] options = new Linker.Option[extra.length + 1];
        options[0] = CAPTURE_ERRNO;
        System.arraycopy(extra, 0, options, 1, extra.length);
        MemorySegment symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name + "()"));
        return LINKER.downcallHandle(symbol, descriptor, options);
    }

    /** Room for errno; allocate from an arena that outlives the calls using it. */
    static MemorySegment newCallState(java.lang.foreign.Arena arena) {
        return arena.allocate(CALL_STATE);
    }

    static int errno(MemorySegment callState) {
        return (int) ERRNO.get(callState, 0L);
    }

    static long read(MemorySegment callState, int fd, MemorySegment buffer, long count) {
        try {
            return (long) READ.invokeExact(callState, fd, buffer, count);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    static long write(MemorySegment callState, int fd, MemorySegment buffer, long count) {
        try {
            return (long) WRITE.invokeExact(callState, fd, buffer, count);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    static int close(MemorySegment callState, int fd) {
        try {
            return (int) CLOSE.invokeExact(callState, fd);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    static int shutdown(MemorySegment callState, int fd, int how) {
        try {
            return (int) SHUTDOWN.invokeExact(callState, fd, how);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    static int fcntl(MemorySegment callState, int fd, int command) {
        try {
            return (int) FCNTL.invokeExact(callState, fd, command);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** Waits without a time limit until fd is ready for {@code events}; -1 and errno on failure. */
    static int pollOne(java.lang.foreign.Arena arena, MemorySegment callState, int fd, short events) {
        MemorySegment pollfd = arena.allocate(POLLFD);
        pollfd.set(JAVA_INT, 0, fd);
        pollfd.set(JAVA_SHORT, 4, events);
        try {
            return (int) POLL.invokeExact(callState, pollfd, 1L, -1);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** "errno 9 (bad file descriptor)": fixed English text, unlike strerror(3) under a locale. */
    static String describe(int errno) {
        String text = switch (errno) {
            case 1 -> "operation not permitted";
            case 2 -> "no such file or directory";
            case 4 -> "interrupted system call";
            case 5 -> "input/output error";
            case 9 -> "bad file descriptor";
            case 11 -> "resource temporarily unavailable";
            case 12 -> "cannot allocate memory";
            case 13 -> "permission denied";
            case 14 -> "bad address";
            case 21 -> "is a directory";
            case 22 -> "invalid argument";
            case 27 -> "file too large";
            case 28 -> "no space left on device";
            case 29 -> "illegal seek";
            case 32 -> "broken pipe";
            case 88 -> "socket operation on non-socket";
            case 104 -> "connection reset by peer";
            case 107 -> "transport endpoint is not connected";
            case 110 -> "connection timed out";
            case 122 -> "disk quota exceeded";
            default -> null;
        };
        return text == null ? "errno " + errno : "errno " + errno + " (" + text + ")";
    }

    private static RuntimeException unexpected(Throwable t) {
        // A downcall handle throws only what the JVM throws (OutOfMemoryError, say).
        if (t instanceof RuntimeException e) return e;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
