package dev.vmmigrate.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.guest.Workload;
import dev.vmmigrate.guest.WorkloadSpec;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.transport.IncomingEndpoint;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Wiring for in-process live migrations through the core API, as the CLI's demo does it: a
 * running source guest, a destination waiting in INMIGRATE, an {@link IncomingMigration} fed by
 * an endpoint's one connection and an {@link OutgoingMigration} over a connection to it.
 */
public final class LiveMigrations {
    /** Every wait in these tests is a hang guard only. */
    public static final Duration GUARD = Duration.ofSeconds(45);

    private LiveMigrations() {
    }

    /**
     * A running guest of {@code ram} bytes, half random pages (seed 42), running {@code workload};
     * returns once the workload has done some steps (so its state is worth migrating).
     */
    public static Guest runningSource(long ram, String workload) throws InterruptedException {
        WorkloadSpec spec = WorkloadSpec.parse(workload);
        Guest guest = Guest.builder().ramSize(ram).workload(spec).seed(42).build();
        for (RamBlock block : guest.ramBlocks()) {
            Workload.fillHalfRandom(block, 42);
        }
        guest.start();
        long deadline = System.nanoTime() + GUARD.toNanos();
        while (!spec.idle() && guest.workload().steps() == 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("workload " + workload + " made no step");
            }
            Thread.sleep(2);
        }
        return guest;
    }

    /** A destination of {@code ram} bytes waiting for an incoming migration. */
    public static Guest destination(long ram) {
        return Guest.builder().ramSize(ram).incoming(true).build();
    }

    /** An outgoing migration of {@code source} with these limits (downtime limit 300 ms). */
    public static OutgoingMigration outgoing(Guest source, long maxBandwidth, Duration timeout) {
        MachineStreams streams = MachineStreams.of(source, false);
        OutgoingMigration migration = new OutgoingMigration(source, streams);
        migration.setParameters(new MigrationParameters(maxBandwidth,
                MigrationParameters.DEFAULT_DOWNTIME_LIMIT, timeout));
        return migration;
    }

    /** An incoming migration into {@code destination}, verified by the digest, left paused. */
    public static IncomingMigration incoming(Guest destination) {
        return MachineStreams.of(destination, false).incoming(destination, true);
    }

    /** Accepts the endpoint's one connection on another thread and starts loading from it. */
    public static CompletableFuture<Void> acceptAndLoad(IncomingEndpoint endpoint, IncomingMigration incoming) {
        CompletableFuture<Void> started = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("test-accept").start(() -> {
            try {
                incoming.start(endpoint.accept());
                started.complete(null);
            } catch (Throwable t) {
                started.completeExceptionally(t);
            }
        });
        return started;
    }

    /**
     * Accepts the endpoint's migration connection as a receiver does (screened; later ones
     * refused, or handed to a resume) on another thread and starts loading from it.
     */
    public static CompletableFuture<Void> acceptMigrationAndLoad(IncomingEndpoint endpoint, IncomingMigration incoming,
                                                                 java.util.function.Consumer<String> notices) {
        CompletableFuture<Void> started = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("test-accept").start(() -> {
            try {
                incoming.start(endpoint.acceptMigration(notices));
                started.complete(null);
            } catch (Throwable t) {
                started.completeExceptionally(t);
            }
        });
        return started;
    }

    /** Waits (hang guard only) for the outgoing side to finish. */
    public static MigrationStatus awaitOutgoing(OutgoingMigration migration) throws InterruptedException {
        MigrationStatus status = migration.awaitFinished(GUARD);
        assertTrue(status.isFinished(), "awaitFinished returned while the migration is " + status);
        return status;
    }

    /** Waits (hang guard only) for the incoming side to finish. */
    public static MigrationStatus awaitIncoming(IncomingMigration incoming) throws Exception {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return incoming.awaitFinished();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        }).get(GUARD.toSeconds(), TimeUnit.SECONDS);
    }

    /**
     * What a completed migration must leave: both sides completed, the source postmigrate, the
     * destination paused with RAM equal to the source's (frozen at switchover), the same workload
     * state, and the source's run state in globalstate.
     */
    public static void assertMigrated(Guest source, Guest destination, OutgoingMigration out,
                                      IncomingMigration in) throws Exception {
        assertEquals(MigrationStatus.COMPLETED, awaitOutgoing(out), "source: " + out.error());
        assertEquals(MigrationStatus.COMPLETED, awaitIncoming(in), "destination: " + in.error());
        assertEquals(RunState.POSTMIGRATE, source.runState());
        assertEquals(RunState.PAUSED, destination.runState());
        assertEquals(RunState.RUNNING, destination.globalState().runState());
        for (int i = 0; i < source.ramBlocks().size(); i++) {
            long mismatch = source.ramBlocks().get(i).memory().mismatch(destination.ramBlocks().get(i).memory());
            assertEquals(-1, mismatch, "destination RAM differs at offset " + mismatch);
        }
        Workload.State sent = source.workload().state();
        assertTrue(sent.steps() > 0, "the source workload ran");
        assertEquals(sent, destination.workload().state());
    }

    /** Collects the link events (LINK_DOWN, LINK_UP) a side reports, as "down: ..." and "up: ...". */
    public static final class LinkEvents implements MigrationListener {
        public final List<String> events = new CopyOnWriteArrayList<>();

        @Override
        public void statusChanged(MigrationStatus status, MigrationInfo info) {
        }

        @Override
        public void linkChanged(boolean up, String detail) {
            events.add((up ? "up: " : "down: ") + detail);
        }
    }

    /** Records every status a migration reports, and lets a test wait for one. */
    public static final class Recorder implements MigrationListener {
        private final List<MigrationStatus> statuses = new CopyOnWriteArrayList<>();
        private final List<MigrationInfo> infos = new CopyOnWriteArrayList<>();
        private final CountDownLatch active = new CountDownLatch(1);

        @Override
        public void statusChanged(MigrationStatus status, MigrationInfo info) {
            statuses.add(status);
            infos.add(info);
            if (status == MigrationStatus.ACTIVE) {
                active.countDown();
            }
        }

        public List<MigrationStatus> statuses() {
            return new ArrayList<>(statuses);
        }

        public List<MigrationInfo> infos() {
            return new ArrayList<>(infos);
        }

        /** Waits (hang guard only) for ACTIVE to be reported. */
        public void awaitActive() throws InterruptedException {
            assertTrue(active.await(GUARD.toSeconds(), TimeUnit.SECONDS), "never became active: " + statuses);
        }
    }

    /** A write-only connection into memory, for refusals that must never write to, shut down or close it. */
    public static final class MemoryConnection implements Connection {
        public final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final WritableByteChannel channel = Channels.newChannel(bytes);
        private volatile boolean closedOrShutDown;

        @Override
        public ReadableByteChannel input() {
            throw new UnsupportedOperationException("write-only");
        }

        @Override
        public WritableByteChannel output() {
            return channel;
        }

        @Override
        public void shutdown() {
            closedOrShutDown = true;
        }

        @Override
        public void close() throws IOException {
            closedOrShutDown = true;
            channel.close();
        }

        @Override
        public String description() {
            return "memory";
        }

        /** Whether anything was written to it, or it was shut down or closed. */
        public boolean used() {
            return closedOrShutDown || bytes.size() > 0;
        }
    }
}
