package dev.vmmigrate.os;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * Every libc call vm-migrate and its tests make, through the FFM API: what the JDK has no public
 * way to do (use a descriptor number it did not open, map anonymous memory with madvise, ask
 * isatty). Linux on a 64-bit CPU is assumed (size_t is a long; errno and flag values are
 * Linux's). Calls whose errno matters take a call-state segment ({@link #newCallState}) in which
 * the linker saves errno right after the call, before the JVM can clobber it.
 *
 * <p>Calls are linked in groups on first use, so a run that uses none of a group (file-backed
 * RAM, no {@code fd:} URI) links none of it.
 */
public final class Libc {
    private Libc() {}

    public static final int EINTR = 4;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11; // also EWOULDBLOCK
    public static final int ENOTSOCK = 88;

    public static final int F_GETFL = 3;
    public static final int F_SETFL = 4;
    public static final int O_ACCMODE = 3;
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_CREAT = 0100;
    public static final int O_TRUNC = 01000;
    public static final int O_NONBLOCK = 04000;
    public static final int SHUT_RDWR = 2;
    public static final short POLLIN = 0x1;
    public static final short POLLOUT = 0x4;
    public static final int AF_UNIX = 1;
    public static final int SOCK_STREAM = 1;

    public static final int PROT_READ = 0x1;
    public static final int PROT_WRITE = 0x2;
    public static final int MAP_PRIVATE = 0x02;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int MAP_NORESERVE = 0x4000;
    public static final int MADV_HUGEPAGE = 14;
    public static final int MADV_NOHUGEPAGE = 15;
    /** Linux 5.14+: back a range with memory now, one call instead of a page fault per page. */
    public static final int MADV_POPULATE_WRITE = 23;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    /** struct pollfd { int fd; short events; short revents; } */
    private static final StructLayout POLLFD = MemoryLayout.structLayout(JAVA_INT, JAVA_SHORT, JAVA_SHORT);

    /** The fd: transport's calls, all saving errno. */
    private static final class Fds {
        static final MethodHandle READ = downcall("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG),
                CAPTURE_ERRNO);
        static final MethodHandle WRITE = downcall("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG),
                CAPTURE_ERRNO);
        static final MethodHandle CLOSE = downcall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT), CAPTURE_ERRNO);
        static final MethodHandle SHUTDOWN = downcall("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT),
                CAPTURE_ERRNO);
        static final MethodHandle POLL = downcall("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT),
                CAPTURE_ERRNO);
        // fcntl is variadic: declare where the fixed arguments end, even though we pass no third one.
        static final MethodHandle FCNTL = downcall("fcntl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT),
                CAPTURE_ERRNO, Linker.Option.firstVariadicArg(2));
    }

    /** Anonymous guest RAM: only mmap's errno is reported. */
    private static final class Memory {
        static final MethodHandle MMAP = downcall("mmap",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG), CAPTURE_ERRNO);
        static final MethodHandle MUNMAP = downcall("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        static final MethodHandle MADVISE = downcall("madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
        static final MethodHandle STRERROR = downcall("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    private static final class Tty {
        static final MethodHandle ISATTY = downcall("isatty", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    /** What the tests need to make descriptors and look at residency; they report failure, not errno. */
    private static final class TestSupport {
        static final MethodHandle PIPE = downcall("pipe", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle SOCKETPAIR = downcall("socketpair",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
        static final MethodHandle OPEN = downcall("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
                Linker.Option.firstVariadicArg(2));
        static final MethodHandle FCNTL_ARG = downcall("fcntl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
                Linker.Option.firstVariadicArg(2));
        static final MethodHandle MINCORE = downcall("mincore", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS));
    }

    private static MethodHandle downcall(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        MemorySegment symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name + "()"));
        return LINKER.downcallHandle(symbol, descriptor, options);
    }

    /** Room for errno; allocate from an arena that outlives the calls using it. */
    public static MemorySegment newCallState(Arena arena) {
        return arena.allocate(CALL_STATE);
    }

    public static int errno(MemorySegment callState) {
        return (int) ERRNO.get(callState, 0L);
    }

    public static long read(MemorySegment callState, int fd, MemorySegment buffer, long count) {
        try {
            return (long) Fds.READ.invokeExact(callState, fd, buffer, count);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static long write(MemorySegment callState, int fd, MemorySegment buffer, long count) {
        try {
            return (long) Fds.WRITE.invokeExact(callState, fd, buffer, count);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int close(MemorySegment callState, int fd) {
        try {
            return (int) Fds.CLOSE.invokeExact(callState, fd);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int shutdown(MemorySegment callState, int fd, int how) {
        try {
            return (int) Fds.SHUTDOWN.invokeExact(callState, fd, how);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** fcntl(2) with a command that takes no argument (F_GETFL). */
    public static int fcntl(MemorySegment callState, int fd, int command) {
        try {
            return (int) Fds.FCNTL.invokeExact(callState, fd, command);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** Waits without a time limit until fd is ready for {@code events}; -1 and errno on failure. */
    public static int pollOne(Arena arena, MemorySegment callState, int fd, short events) {
        MemorySegment pollfd = arena.allocate(POLLFD);
        pollfd.set(JAVA_INT, 0, fd);
        pollfd.set(JAVA_SHORT, 4, events);
        try {
            return (int) Fds.POLL.invokeExact(callState, pollfd, 1L, -1);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** mmap(2); on failure the address is -1 (MAP_FAILED) and errno is in {@code callState}. */
    public static MemorySegment mmap(MemorySegment callState, MemorySegment address, long length, int prot, int flags,
                                     int fd, long offset) {
        try {
            return (MemorySegment) Memory.MMAP.invokeExact(callState, address, length, prot, flags, fd, offset);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int munmap(MemorySegment address, long length) {
        try {
            return (int) Memory.MUNMAP.invokeExact(address, length);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int madvise(MemorySegment address, long length, int advice) {
        try {
            return (int) Memory.MADVISE.invokeExact(address, length, advice);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** strerror(3)'s text (in the process's locale), then "(errno N)"; just "errno N" if that fails. */
    public static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) Memory.STRERROR.invokeExact(errno);
            return s.reinterpret(256).getString(0) + " (errno " + errno + ")";
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    public static int isatty(int fd) {
        try {
            return (int) Tty.ISATTY.invokeExact(fd);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** pipe(2) into {@code fds} (two ints: read end, write end). */
    public static int pipe(MemorySegment fds) {
        try {
            return (int) TestSupport.PIPE.invokeExact(fds);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int socketpair(int domain, int type, int protocol, MemorySegment fds) {
        try {
            return (int) TestSupport.SOCKETPAIR.invokeExact(domain, type, protocol, fds);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** open(2) of a NUL-terminated path. */
    public static int open(MemorySegment path, int flags, int mode) {
        try {
            return (int) TestSupport.OPEN.invokeExact(path, flags, mode);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** fcntl(2) with an int argument (F_SETFL). */
    public static int fcntl(int fd, int command, int argument) {
        try {
            return (int) TestSupport.FCNTL_ARG.invokeExact(fd, command, argument);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** mincore(2): one byte per page of {@code address} into {@code vector}. */
    public static int mincore(MemorySegment address, long length, MemorySegment vector) {
        try {
            return (int) TestSupport.MINCORE.invokeExact(address, length, vector);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** "errno 9 (bad file descriptor)": fixed English text, unlike strerror(3) under a locale. */
    public static String describe(int errno) {
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
