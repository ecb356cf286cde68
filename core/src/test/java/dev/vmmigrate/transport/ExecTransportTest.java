package dev.vmmigrate.transport;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(20)
class ExecTransportTest {

    @TempDir
    Path dir;

    @Test
    void outgoingFeedsTheCommandsStdin() throws Exception {
        Path file = dir.resolve("out.mig");
        byte[] data = Streams.random(Streams.PAYLOAD, 3);
        try (Connection out = MigrationUri.parse("exec:cat > '" + file + "'").connect()) {
            assertEquals("exec 'cat > '" + file + "''", out.description());
            assertThrows(UnsupportedOperationException.class, out::input);
            Streams.writeAll(out.output(), data);
        }
        Streams.assertSameBytes(data, Files.readAllBytes(file));
    }

    @Test
    void incomingReadsTheCommandsStdout() throws Exception {
        Path file = Files.write(dir.resolve("in.mig"), Streams.random(Streams.PAYLOAD, 4));
        try (IncomingEndpoint endpoint = MigrationUri.parse("exec:cat '" + file + "'").listen()) {
            assertEquals("exec:cat '" + file + "'", endpoint.boundAddress());
            try (Connection in = endpoint.accept()) {
                assertThrows(UnsupportedOperationException.class, in::output);
                Streams.assertSameBytes(Files.readAllBytes(file), Streams.readAll(in.input()));
            }
            assertThrows(IllegalStateException.class, endpoint::accept);
        }
    }

    @Test
    void incomingCommandGetsAnEmptyStdin() throws Exception {
        try (Connection in = new ExecUri("wc -c").listen().accept()) {
            assertEquals("0", new String(Streams.readAll(in.input())).trim());
        }
    }

    @Test
    void nonZeroExitFailsCloseNamingCommandAndStatus() throws Exception {
        Connection out = new ExecUri("cat > /dev/null; exit 3").connect();
        Streams.writeAll(out.output(), new byte[1024]);
        IOException e = assertThrows(IOException.class, out::close);
        assertEquals("command 'cat > /dev/null; exit 3' exited with status 3", e.getMessage());
        assertDoesNotThrow(out::close, "close is idempotent");
    }

    @Test
    void nonZeroExitOfAnIncomingCommand() throws Exception {
        Connection in = new ExecUri("exit 4").listen().accept();
        assertEquals(-1, in.input().read(ByteBuffer.allocate(10)));
        assertEquals("command 'exit 4' exited with status 4", assertThrows(IOException.class, in::close).getMessage());
    }

    @Test
    void shutdownUnblocksAReader() throws Exception {
        // "; exit 0" keeps sh from exec'ing sleep: the grandchild holds the pipe and must die too.
        Connection in = new ExecUri("sleep 30; exit 0").listen().accept();
        Future<Integer> reader = Streams.async(() -> in.input().read(ByteBuffer.allocate(10)));
        Thread.sleep(200);
        long start = System.nanoTime();
        in.shutdown();
        try {
            assertEquals(-1, reader.get(5, TimeUnit.SECONDS));
        } catch (ExecutionException e) {
            assertTrue(e.getCause() instanceof IOException, String.valueOf(e.getCause())); // also fine: it was unblocked
        }
        in.close(); // the status is ours (we killed it): not reported
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10));
    }

    @Test
    void shutdownUnblocksAWriterOfACommandThatDoesNotRead() throws Exception {
        Connection out = new ExecUri("sleep 30; exit 0").connect();
        Future<Void> writer = Streams.async(() -> {
            Streams.writeAll(out.output(), new byte[4 * 1024 * 1024]); // far beyond a pipe's buffer
            return null;
        });
        Thread.sleep(300);
        out.shutdown();
        ExecutionException e = assertThrows(ExecutionException.class, () -> writer.get(5, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof IOException, String.valueOf(e.getCause()));
        out.close();
    }
}
