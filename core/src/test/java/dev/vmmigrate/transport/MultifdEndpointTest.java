package dev.vmmigrate.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.CompletableFuture;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A receiver that takes multifd channels ({@link IncomingEndpoint#handOverMultifdChannels}): a
 * connection that opens with the multifd magic goes to the channels' handler, before or after the
 * main stream's connection is admitted, which is always the one with QEMU's magic; a second main
 * stream is refused as before.
 */
@Timeout(30)
class MultifdEndpointTest {
    private static final byte[] MAIN = {'Q', 'E', 'V', 'M', 0, 0, 0, 3};
    private static final byte[] CHANNEL = {0x11, 0x22, 0x33, 0x44, 0, 0, 0, 1, 9};

    private final List<String> notices = new CopyOnWriteArrayList<>();

    @Test
    void channelsGoToTheirHandlerAndTheMainStreamIsAdmitted() throws Exception {
        BlockingQueue<Connection> channels = new LinkedBlockingQueue<>();
        try (IncomingEndpoint endpoint = MigrationUri.parse("tcp:127.0.0.1:0").listen()) {
            assertTrue(endpoint.handOverMultifdChannels(channels::add));
            // acceptMigration runs the accept loop: a channel that comes first is handed over meanwhile
            CompletableFuture<Connection> accepting = CompletableFuture.supplyAsync(() -> {
                try {
                    return endpoint.acceptMigration(notices::add);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            try (Connection early = send(endpoint, CHANNEL)) {
                Connection handed = channels.poll(20, TimeUnit.SECONDS);
                assertArrayEquals(CHANNEL, read(handed, CHANNEL.length), "the channel's first bytes are read again");
                handed.close();
            }
            assertFalse(accepting.isDone(), "a channel is not the migration connection");
            try (Connection main = send(endpoint, MAIN); Connection admitted = accepting.get(20, TimeUnit.SECONDS)) {
                assertArrayEquals(MAIN, read(admitted, MAIN.length));
                try (Connection late = send(endpoint, CHANNEL)) {
                    Connection handed = channels.poll(20, TimeUnit.SECONDS);
                    assertArrayEquals(CHANNEL, read(handed, CHANNEL.length));
                    handed.close();
                }
                try (Connection second = send(endpoint, MAIN)) {
                    assertEquals(-1, second.input().read(ByteBuffer.allocate(1)), "a second main stream is refused");
                }
            }
            assertEquals(1, notices.size(), notices.toString());
            assertTrue(notices.getFirst().startsWith("refused a connection"), notices.toString());
        }
    }

    @Test
    void withoutAHandlerAChannelIsAdmittedForTheLoadToName() throws Exception {
        try (IncomingEndpoint endpoint = MigrationUri.parse("tcp:127.0.0.1:0").listen();
             Connection channel = send(endpoint, CHANNEL);
             Connection admitted = endpoint.acceptMigration(notices::add)) {
            assertArrayEquals(CHANNEL, read(admitted, CHANNEL.length));
        }
    }

    @Test
    void transportsWithOneConnectionTakeNoChannels(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path file = java.nio.file.Files.write(dir.resolve("stream"), MAIN);
        try (IncomingEndpoint endpoint = MigrationUri.parse("file:" + file).listen()) {
            assertEquals(false, endpoint.handOverMultifdChannels(connection -> { }));
        }
    }

    private static Connection send(IncomingEndpoint endpoint, byte[] bytes) throws IOException {
        Connection connection = MigrationUri.parse(endpoint.boundAddress()).connect();
        connection.output().write(ByteBuffer.wrap(bytes));
        return connection;
    }

    private static byte[] read(Connection connection, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining() && connection.input().read(buffer) >= 0) {
            // until full
        }
        return buffer.array();
    }
}
