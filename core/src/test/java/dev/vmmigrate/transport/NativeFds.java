package dev.vmmigrate.transport;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.vmmigrate.os.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/** Raw descriptors for the fd: tests: what a parent process would hand down to us. */
final class NativeFds {
    private NativeFds() {}

    /** {read end, write end} */
    static int[] pipe() throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(JAVA_INT, 2);
            check(Libc.pipe(fds), "pipe");
            return fds.toArray(JAVA_INT);
        }
    }

    static int[] socketpair() throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(JAVA_INT, 2);
            check(Libc.socketpair(Libc.AF_UNIX, Libc.SOCK_STREAM, 0, fds), "socketpair");
            return fds.toArray(JAVA_INT);
        }
    }

    static int open(Path path, int flags) throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            int fd = Libc.open(arena.allocateFrom(path.toString()), flags, 0644);
            return check(fd, "open " + path);
        }
    }

    static void setNonBlocking(int fd) throws Throwable {
        int flags = check(Libc.fcntl(fd, Libc.F_GETFL, 0), "fcntl F_GETFL");
        check(Libc.fcntl(fd, Libc.F_SETFL, flags | Libc.O_NONBLOCK), "fcntl F_SETFL");
    }

    /** Closes quietly: the channel under test may already have closed it. */
    static void closeQuietly(int fd) throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            Libc.close(Libc.newCallState(arena), fd);
        }
    }

    private static int check(int result, String call) {
        if (result < 0) throw new IllegalStateException(call + " failed");
        return result;
    }
}
