package dev.vmmigrate.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A receiver's accept ({@link IncomingEndpoint#acceptMigration}): a client that sends nothing, or
 * not a migration header, is dropped and the real sender admitted; every other connection, before
 * or after, is refused with a line; unix sockets are 0600.
 */
@Timeout(30)
class AcceptMigrationTest {
    /** QEMU's magic and stream version 3, then the configuration section's type byte. */
    private static final byte[] HEADER = {'Q', 'E', 'V', 'M', 0, 0, 0, 3, 7};

    @TempDir
    Path dir;

    private final List<String> notices = new CopyOnWriteArrayList<>();

    @Test
    void anIdleClientIsDroppedAndTheRealSenderAdmitted() throws Exception {
        try (IncomingEndpoint endpoint = MigrationUri.parse("tcp:127.0.0.1:0").listen();
             Connection idle = MigrationUri.parse(endpoint.boundAddress()).connect()) {
            Future<Void> sender = sendHeaderAfter(endpoint.boundAddress(), 200);
            long start = System.nanoTime();
            try (Connection in = endpoint.acceptMigration(notices::add)) {
                assertArrayEquals(HEADER, read(in, HEADER.length), "the screened header is read again");
            }
            sender.get(10, TimeUnit.SECONDS);
            assertTrue(System.nanoTime() - start < HeaderGate.TIMEOUT.toNanos(),
                    "the sender was admitted while the idle client was still being screened");
            assertEquals(-1, idle.input().read(ByteBuffer.allocate(1)), "the idle client is dropped, closed");
            awaitNotice(); // the deadline shuts the client down, then the screen says so
            assertEquals(1, notices.size(), notices.toString());
            assertTrue(notices.getFirst().matches("dropped a connection \\(tcp .*\\): it sent nothing within 5 s"),
                    notices.toString());
        }
    }

    @Test
    void aClientSendingSomethingElseIsDropped() throws Exception {
        try (IncomingEndpoint endpoint = MigrationUri.parse("tcp:127.0.0.1:0").listen();
             Connection junk = MigrationUri.parse(endpoint.boundAddress()).connect()) {
            junk.output().write(ByteBuffer.wrap("GET / HTTP/1.1\r\n".getBytes()));
            Future<Void> sender = sendHeaderAfter(endpoint.boundAddress(), 500);
            try (Connection in = endpoint.acceptMigration(notices::add)) {
                assertArrayEquals(HEADER, read(in, HEADER.length));
            }
            sender.get(10, TimeUnit.SECONDS);
            assertEquals(List.of(), notices.stream().filter(n -> !n.contains("it sent 0x474554202f204854, "
                    + "not a QEMU migration stream's header")).toList());
            assertEquals(1, notices.size(), notices.toString());
        }
    }

    @Test
    void anotherConnectionAfterTheAdmittedOneIsRefusedWithALine() throws Exception {
        Path socket = dir.resolve("vm.sock");
        try (IncomingEndpoint endpoint = MigrationUri.parse("unix:" + socket).listen()) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));
            Future<Void> sender = sendHeaderAfter(endpoint.boundAddress(), 0);
            try (Connection in = endpoint.acceptMigration(notices::add);
                 Connection second = MigrationUri.parse(endpoint.boundAddress()).connect()) {
                assertEquals(-1, second.input().read(ByteBuffer.allocate(1)), "the second connection is closed");
                assertArrayEquals(HEADER, read(in, HEADER.length));
            }
            sender.get(10, TimeUnit.SECONDS);
            assertEquals(List.of("refused a connection (unix " + socket
                    + "): this receiver takes one migration connection and has it"), notices);
        }
        assertTrue(Files.notExists(socket), "the socket file goes on close");
    }

    private void awaitNotice() throws InterruptedException {
        for (int i = 0; i < 100 && notices.isEmpty(); i++) {
            Thread.sleep(50);
        }
    }

    private static Future<Void> sendHeaderAfter(String uri, long millis) {
        return Streams.async(() -> {
            Thread.sleep(millis);
            try (Connection out = MigrationUri.parse(uri).connect()) {
                Streams.writeAll(out.output(), HEADER);
                out.input().read(ByteBuffer.allocate(1)); // until the receiver closes
            }
            return null;
        });
    }

    private static byte[] read(Connection in, int length) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(length);
        while (bytes.hasRemaining() && in.input().read(bytes) >= 0) {
            // more
        }
        return bytes.array();
    }
}
