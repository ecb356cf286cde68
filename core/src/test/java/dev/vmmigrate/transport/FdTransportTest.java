package dev.vmmigrate.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vmmigrate.os.Libc;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Descriptors are made here through FFM, as a parent shell would make them with 5<file or a pipe. */
@Timeout(20)
class FdTransportTest {

    private static final int NOT_OPEN = 987_654;

    @TempDir
    Path dir;

    @Test
    void roundTripThroughAPipe() throws Throwable {
        int[] pipe = NativeFds.pipe();
        byte[] data = Streams.random(Streams.PAYLOAD, 6);
        Future<Void> sender = Streams.async(() -> {
            try (Connection out = MigrationUri.parse("fd:" + pipe[1]).connect()) {
                assertThrows(UnsupportedOperationException.class, out::input, "a pipe's write end is write-only");
                Streams.writeAll(out.output(), data);
            }
            return null;
        });
        try (IncomingEndpoint endpoint = MigrationUri.parse("fd:" + pipe[0]).listen(); Connection in = endpoint.accept()) {
            assertEquals("fd:" + pipe[0], endpoint.boundAddress());
            assertEquals("fd " + pipe[0], in.description());
            assertThrows(UnsupportedOperationException.class, in::output);
            assertThrows(IllegalStateException.class, endpoint::accept);
            Streams.assertSameBytes(data, Streams.readAll(in.input()));
        }
        sender.get(10, TimeUnit.SECONDS);
    }

    @Test
    void readsARegularFileOpenedByTheParent() throws Throwable {
        Path file = Files.write(dir.resolve("in.mig"), Streams.random(Streams.PAYLOAD, 7));
        int fd = NativeFds.open(file, Libc.O_RDONLY);
        try (Connection in = new FdUri(fd).listen().accept()) {
            Streams.assertSameBytes(Files.readAllBytes(file), Streams.readAll(in.input()));
        }
    }

    @Test
    void writesARegularFileOpenedByTheParent() throws Throwable {
        Path file = dir.resolve("out.mig");
        byte[] data = Streams.random(Streams.PAYLOAD, 8);
        int fd = NativeFds.open(file, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_TRUNC);
        Connection out = new FdUri(fd).connect();
        Streams.writeAll(out.output(), data);
        out.close();
        assertFalse(out.output().isOpen());
        assertThrows(ClosedChannelException.class, () -> out.output().write(ByteBuffer.allocate(1)));
        out.close(); // closes the descriptor once only
        Streams.assertSameBytes(data, Files.readAllBytes(file));
    }

    @Test
    void socketInBothDirectionsAtOnceThenShutdownUnblocksAReader() throws Throwable {
        int[] pair = NativeFds.socketpair();
        byte[] there = Streams.random(Streams.PAYLOAD, 9);
        byte[] back = Streams.random(Streams.PAYLOAD / 2, 10);
        try (Connection a = new FdUri(pair[0]).connect(); Connection b = new FdUri(pair[1]).listen().accept()) {
            Future<Void> aSends = Streams.async(() -> { Streams.writeAll(a.output(), there); return null; });
            Future<Void> bSends = Streams.async(() -> { Streams.writeAll(b.output(), back); return null; });
            Future<byte[]> aReceives = Streams.async(() -> Streams.readExactly(a.input(), back.length));
            Streams.assertSameBytes(there, Streams.readExactly(b.input(), there.length));
            Streams.assertSameBytes(back, aReceives.get(10, TimeUnit.SECONDS));
            aSends.get(10, TimeUnit.SECONDS);
            bSends.get(10, TimeUnit.SECONDS);

            Future<Integer> blocked = Streams.async(() -> b.input().read(ByteBuffer.allocateDirect(100)));
            Thread.sleep(200);
            b.shutdown();
            b.shutdown();
            assertEquals(-1, blocked.get(5, TimeUnit.SECONDS));
        }
    }

    @Test
    void nonBlockingDescriptorIsWaitedOn() throws Throwable {
        int[] pipe = NativeFds.pipe();
        NativeFds.setNonBlocking(pipe[0]);
        try (Connection in = new FdUri(pipe[0]).listen().accept(); Connection out = new FdUri(pipe[1]).connect()) {
            Future<byte[]> reader = Streams.async(() -> Streams.readExactly(in.input(), 3));
            Thread.sleep(100); // the reader meets EAGAIN and polls
            out.output().write(ByteBuffer.wrap(new byte[] {7, 8, 9}));
            Streams.assertSameBytes(new byte[] {7, 8, 9}, reader.get(5, TimeUnit.SECONDS));
        }
    }

    @Test
    void descriptorThatIsNotOpenFailsAtOnce() {
        String message = "fd " + NOT_OPEN + " is not an open descriptor";
        assertEquals(message, assertThrows(IOException.class, () -> new FdUri(NOT_OPEN).connect()).getMessage());
        assertEquals(message, assertThrows(IOException.class, () -> new FdUri(NOT_OPEN).listen()).getMessage());
    }

    @Test
    void wrongDirectionIsRefusedUpFront() throws Throwable {
        int[] pipe = NativeFds.pipe();
        try {
            assertEquals("fd " + pipe[0] + " is open read-only; cannot send on it",
                    assertThrows(IOException.class, () -> new FdUri(pipe[0]).connect()).getMessage());
            assertEquals("fd " + pipe[1] + " is open write-only; cannot receive from it",
                    assertThrows(IOException.class, () -> new FdUri(pipe[1]).listen()).getMessage());
        } finally {
            NativeFds.closeQuietly(pipe[0]);
            NativeFds.closeQuietly(pipe[1]);
        }
    }

    @Test
    void ioErrorsNameDescriptorAndErrno() throws Throwable {
        Path file = Files.write(dir.resolve("f"), new byte[10]);
        int fd = NativeFds.open(file, Libc.O_RDONLY);
        try (FdChannel wrongWay = new FdChannel(fd)) {
            IOException e = assertThrows(IOException.class, () -> wrongWay.write(ByteBuffer.allocate(1)));
            assertEquals("write to fd " + fd + " failed: errno 9 (bad file descriptor)", e.getMessage());
        }
    }
}
