package dev.vmmigrate.migration;

import dev.vmmigrate.returnpath.SourceReturnPath;
import dev.vmmigrate.savevm.MigrationCommand;
import dev.vmmigrate.savevm.RecvBitmapRequest;
import dev.vmmigrate.savevm.SaveVm;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.transport.MigrationUri;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;

/**
 * The source's side of a resumed migration (send --reconnect): connects to the destination
 * again until the window runs out, presents the destination's token and the stream offset its
 * bytes start at ({@link ResumeHello}), and waits for the destination's resume point (its
 * RECV_BITMAPs and the offset up to which it read every section whole).
 */
final class SourceResume {
    /** First wait between attempts; doubled up to {@link #MAX_BACKOFF}. */
    private static final Duration FIRST_BACKOFF = Duration.ofMillis(200);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(2);
    private static final Duration POLL = Duration.ofMillis(100);

    /** The new link, and where the destination says the stream goes on from. */
    record Relinked(Connection connection, MigrationOutput out, SourceReturnPath returnPath,
                    SourceReturnPath.ResumePoint point) {
    }

    private final MigrationUri target;
    private final Connector connector;
    private final Duration window;
    private final Duration answerTimeout;
    private final BooleanSupplier active;

    /**
     * @param answerTimeout how long a connected destination may take to answer (the stall timeout)
     * @param active false once the migration is cancelled: the attempts stop
     */
    SourceResume(MigrationUri target, Connector connector, Duration window, Duration answerTimeout,
                 BooleanSupplier active) {
        this.target = target;
        this.connector = connector;
        this.window = window;
        this.answerTimeout = answerTimeout;
        this.active = active;
    }

    Duration window() {
        return window;
    }

    /**
     * Connects again and resumes at {@code lostAt}, the stream offset of the first byte not put
     * on the old link. In postcopy ({@code postcopyBlocks} not null) the resume point is asked for
     * as QEMU's postcopy recovery does: a RECV_BITMAP command for each of those RAM blocks, each
     * answered by the destination's bitmap; the sections then go on from {@code lostAt}.
     *
     * @param postcopyBlocks the RAM blocks to ask the bitmaps of, or null for precopy's resume
     * @return the new link, or null when the window ran out or the migration was cancelled
     * @throws IOException when the destination refused to resume (it said why)
     */
    Relinked reconnect(long token, long lostAt, List<String> postcopyBlocks) throws IOException {
        long deadline = System.nanoTime() + window.toNanos();
        Duration backoff = FIRST_BACKOFF;
        while (active.getAsBoolean() && System.nanoTime() < deadline) {
            Connection connection = connect(deadline);
            if (connection != null) {
                Relinked relinked = handshake(connection, token, lostAt, postcopyBlocks, deadline);
                if (relinked != null) {
                    return relinked;
                }
            }
            sleep(Math.min(backoff.toMillis(), Math.max(0, (deadline - System.nanoTime()) / 1_000_000)));
            backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : backoff.multipliedBy(2);
        }
        return null;
    }

    /** One attempt to connect, given up at the deadline (a host that drops SYNs would block for minutes). */
    private Connection connect(long deadline) {
        CompletableFuture<Connection> attempt = new CompletableFuture<>();
        Thread.ofVirtual().name("reconnect").start(() -> {
            try {
                Connection connection = connector.connect(target);
                if (!attempt.complete(connection)) {
                    connection.shutdown(); // given up on meanwhile
                    connection.close();
                }
            } catch (IOException | RuntimeException e) {
                attempt.completeExceptionally(e);
            }
        });
        try {
            return attempt.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (ExecutionException | TimeoutException e) {
            attempt.cancel(false);
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** Hello out, resume point back; null when the link broke again or the destination did not answer. */
    private Relinked handshake(Connection connection, long token, long lostAt, List<String> postcopyBlocks,
                               long deadline) throws IOException {
        MigrationOutput out = new MigrationOutput(connection.output(), connection::shutdown);
        SourceReturnPath back = null;
        SourceReturnPath.ResumePoint point = null;
        try {
            new ResumeHello(token, lostAt).write(out);
            out.flush();
            out.rebase(lostAt);
            back = new SourceReturnPath(connection.input());
            if (postcopyBlocks != null) {
                for (String block : postcopyBlocks) { // QEMU's migrate_send_rp_recv_bitmap requests
                    SaveVm.writeCommand(out, MigrationCommand.RECV_BITMAP, new RecvBitmapRequest(block).encode());
                }
                out.flush();
            }
            long answerBy = Math.min(deadline, System.nanoTime() + answerTimeout.toNanos());
            while (point == null && active.getAsBoolean() && System.nanoTime() < answerBy) {
                if (postcopyBlocks == null) {
                    point = back.awaitResumePoint(POLL);
                } else {
                    Map<String, long[]> held = back.awaitRecvBitmaps(postcopyBlocks, POLL);
                    point = held == null ? null : new SourceReturnPath.ResumePoint(lostAt, held);
                }
            }
        } catch (IOException e) {
            if (back != null && back.verdictNow() instanceof SourceReturnPath.Verdict.Refused refused
                    && refused.said()) {
                giveUp(connection, back);
                throw new IOException(refused.reason(), e);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (point == null) {
            giveUp(connection, back);
            return null;
        }
        if (point.offset() > lostAt) {
            giveUp(connection, back);
            throw new IOException("the destination resumes at stream offset " + point.offset() + ", past the "
                    + lostAt + " bytes sent");
        }
        return new Relinked(connection, out, back, point);
    }

    private static void giveUp(Connection connection, SourceReturnPath back) {
        connection.shutdown();
        if (back != null) {
            back.close();
        }
        try {
            connection.close();
        } catch (IOException ignored) {
            // a link given up: how it closes says nothing more
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
