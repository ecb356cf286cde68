package dev.vmmigrate.transport;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/** Raw descriptors for the fd: tests: what a parent process would hand down to us. */
final class NativeFds {
    private NativeFds() {}

    static final int O_RDONLY = 0;
    static final int O_WRONLY = 1;
    static final int O_CREAT = 0100;
    static final int O_TRUNC = 01000;
    static final int O_NONBLOCK = 04000;
    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int F_GETFL = 3;
    private static final int F_SETFL = 4;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle PIPE = handle("pipe", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle SOCKETPAIR = handle("socketpair",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle OPEN = handle("open",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FCNTL3 = handle("fcntl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));

    private static MethodHandle handle(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), descriptor, options);
    }

    /** {read end, write end} */
    static int[] pipe() throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(JAVA_INT, 2);
            check((int) PIPE.invokeExact(fds), "pipe");
            return fds.toArray(JAVA_INT);
        }
    }

    static int[] socketpair() throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(JAVA_INT, 2);
            check((int) SOCKETPAIR.invokeExact(AF_UNIX, SOCK_STREAM, 0, fds), "socketpair");
            return fds.toArray(JAVA_INT);
        }
    }

    static int open(Path path, int flags) throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            int fd = (int) OPEN.invokeExact(arena.allocateFrom(path.toString()), flags, 0644);
            return check(fd, "open " + path);
        }
    }

    static void setNonBlocking(int fd) throws Throwable {
        int flags = check((int) FCNTL3.invokeExact(fd, F_GETFL, 0), "fcntl F_GETFL");
        check((int) FCNTL3.invokeExact(fd, F_SETFL, flags | O_NONBLOCK), "fcntl F_SETFL");
    }

    /** Closes quietly: the channel under test may already have closed it. */
    static void closeQuietly(int fd) throws Throwable {
        int ignored = (int) CLOSE.invokeExact(fd);
    }

    private static int check(int result, String call) {
        if (result < 0) throw new IllegalStateException(call + " failed");
        return result;
    }
}
