package dev.vmmigrate.migration;

import static dev.vmmigrate.migration.LiveMigrations.GUARD;
import static dev.vmmigrate.migration.LiveMigrations.awaitIncoming;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.TargetPage;
import java.io.ByteArrayOutputStream;
import dev.vmmigrate.transport.LocalPipe;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import org.junit.jupiter.api.Test;

/**
 * The receiver's progress during a load: the stream is fed in two halves, so the first reading
 * is taken while the load waits for the second one (no timing involved).
 */
class LoadProgressTest {
    private static final long RAM = 4L << 20;
    private static final long PAGES = RAM / TargetPage.SIZE;
    /** The loader waits inside one record at most: a page record is its header and a page. */
    private static final long RECORD = 8 + 256 + TargetPage.SIZE;

    @Test
    void aLoadReportsIncreasingProgress() throws Exception {
        byte[] stream;
        try (Guest source = LiveMigrations.runningSource(RAM, "none")) {
            source.stop(RunState.FINISH_MIGRATE);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (MigrationOutput out = MigrationOutput.to(bytes)) {
                MachineStreams.of(source, false).saveVm(source).saveStopped(out); // every page once
            }
            stream = bytes.toByteArray();
        }
        int half = stream.length / 2;
        LocalPipe pipe = LocalPipe.open();
        try (Guest target = LiveMigrations.destination(RAM)) {
            IncomingMigration incoming = LiveMigrations.incoming(target);
            LoadProgress before = incoming.progress();
            assertEquals(new LoadProgress(MigrationStatus.NONE, 0, 0, 0, 0), before);

            incoming.start(pipe.receiving());
            write(pipe.sending().output(), stream, 0, half);
            LoadProgress midway = awaitBytesRead(incoming, half - RECORD);
            assertEquals(MigrationStatus.ACTIVE, midway.status());
            assertTrue(midway.bytesRead() <= half, midway.toString());
            assertEquals(RAM, midway.ramBytes(), "the RAM the stream announced: " + midway);
            assertTrue(midway.pagesLoaded() > 0 && midway.pagesLoaded() < PAGES, midway.toString());

            write(pipe.sending().output(), stream, half, stream.length - half);
            pipe.sending().close();
            assertEquals(MigrationStatus.COMPLETED, awaitIncoming(incoming), incoming.error());
            LoadProgress done = incoming.progress();
            assertEquals(MigrationStatus.COMPLETED, done.status());
            assertTrue(done.bytesRead() > midway.bytesRead(), done + " after " + midway);
            assertEquals(PAGES, done.pagesLoaded(), "a saved stream carries every page once: " + done);
            assertTrue(done.elapsedMillis() >= midway.elapsedMillis(), done + " after " + midway);
        }
    }

    private static void write(WritableByteChannel sink, byte[] stream, int from, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(stream, from, length);
        while (buffer.hasRemaining()) {
            sink.write(buffer);
        }
    }

    /** Polls (hang guard only) until the load has read {@code bytes}: it then waits for more. */
    private static LoadProgress awaitBytesRead(IncomingMigration incoming, long bytes) throws InterruptedException {
        long deadline = System.nanoTime() + GUARD.toNanos();
        while (true) {
            LoadProgress now = incoming.progress();
            if (now.bytesRead() >= bytes) {
                return now;
            }
            assertTrue(System.nanoTime() < deadline, "the load stopped at " + now + ", short of " + bytes);
            Thread.sleep(5);
        }
    }
}
