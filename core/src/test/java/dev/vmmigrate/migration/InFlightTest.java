package dev.vmmigrate.migration;

import static dev.vmmigrate.migration.LiveMigrations.GUARD;
import static dev.vmmigrate.migration.LiveMigrations.awaitOutgoing;
import static dev.vmmigrate.migration.LiveMigrations.outgoing;
import static dev.vmmigrate.migration.LiveMigrations.runningSource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.testing.TestResources;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What the seeds let an operator change while a migration runs, and the figures query-migrate
 * shows meanwhile, on a sink that takes bytes as fast as they come (so the engine's own rate
 * limit alone sets the pace). The rates are measured over whole windows ({@link WindowRate}).
 */
@Timeout(120)
class InFlightTest {
    /** Large enough that no phase measured here finishes the first pass: half is random data. */
    private static final long BIG_RAM = 256L << 20;
    private static final long MIB = 1L << 20;
    private static final Duration PHASE = Duration.ofSeconds(2);
    /**
     * Time a new migration runs before its rate is measured: its first moments also warm up the
     * JIT and the vmdesc encoder (SaveVm), which on two busy CPUs can stall the sender.
     */
    private static final Duration SETTLE = Duration.ofSeconds(1);

    private final TestResources resources = new TestResources();

    @AfterEach
    void release() throws Exception {
        resources.close();
    }

    private <T extends AutoCloseable> T track(T resource) {
        return resources.track(resource);
    }

    private static MigrationParameters limit(long bandwidth) {
        return new MigrationParameters(bandwidth, MigrationParameters.DEFAULT_DOWNTIME_LIMIT, null);
    }

    /** Cancels {@code out} and checks the guest runs on, as after any cancel. */
    private static void cancel(OutgoingMigration out, Guest source) throws InterruptedException {
        out.cancel();
        assertEquals(MigrationStatus.CANCELLED, awaitOutgoing(out));
        assertEquals(RunState.RUNNING, source.runState());
    }

    /** qmp_migrate_set_speed applies to the running migration whatever the previous limit was. */
    @Test
    void aLimitSetAfterAnUnlimitedStartTakesHold() throws Exception {
        Guest source = track(runningSource(BIG_RAM, "none"));
        OutgoingMigration out = outgoing(source, MigrationParameters.UNLIMITED, null);
        SinkConnection sink = SinkConnection.held(); // the migration waits in setup meanwhile
        out.start(sink);
        out.setParameters(limit(2 * MIB));
        sink.release();
        Thread.sleep(SETTLE.toMillis());
        assertEquals(MigrationStatus.ACTIVE, out.status(), "2 MiB/s cannot have sent 128 MiB of data yet");
        WindowRate.assertWithin(2, 2 * MIB, WindowRate.measure(out, PHASE), "2 MiB/s set after an unlimited start");
        cancel(out, source);
    }

    /** The seeds stop a window as soon as its allowance is spent (qemu_file_rate_limit per page). */
    @ParameterizedTest(name = "{0} MiB/s")
    @ValueSource(longs = {1, 16})
    void theRateLimitHoldsWithinTwoPercent(long mibPerSecond) throws Exception {
        Guest source = track(runningSource(BIG_RAM, "none"));
        OutgoingMigration out = outgoing(source, mibPerSecond * MIB, null);
        out.start(SinkConnection.open());
        Thread.sleep(SETTLE.toMillis());
        WindowRate.assertWithin(2, mibPerSecond * MIB, WindowRate.measure(out, PHASE), "--max-bandwidth "
                + mibPerSecond + "M/s");
        cancel(out, source);
    }

    /** QEMU's rate limiter takes a limit of 0 as none (qemu_file_rate_limit, migration_rate_exceeded). */
    @Test
    void aZeroLimitMeansNoLimit() throws Exception {
        assertEquals(0, limit(0).maxBandwidth());
        assertEquals(0, limit(-5).maxBandwidth(), "a negative limit is taken as 0, as qmp_migrate_set_speed does");
        assertEquals(Long.MAX_VALUE, RateLimiter.windowAllowance(0));

        Guest source = track(runningSource(64L << 20, "none"));
        OutgoingMigration out = outgoing(source, 0, null);
        SinkConnection sink = SinkConnection.open();
        out.start(sink);
        assertEquals(MigrationStatus.COMPLETED, awaitOutgoing(out), out.error());
        assertTrue(sink.written() > 16L << 20, "the random pages went out: " + sink.written());
    }

    /** migrate_fd_connect: "a best 1st approximation" of the downtime is the downtime limit. */
    @Test
    void expectedDowntimeStartsAtTheDowntimeLimit() throws Exception {
        Guest source = track(runningSource(BIG_RAM, "none"));
        OutgoingMigration out = outgoing(source, 4 * MIB, null);
        out.setParameters(new MigrationParameters(4 * MIB, Duration.ofMillis(450), null));
        LiveMigrations.Recorder recorder = new LiveMigrations.Recorder();
        out.addListener(recorder);
        out.start(SinkConnection.open());
        recorder.awaitActive();
        MigrationInfo atActive = recorder.infos().get(recorder.statuses().indexOf(MigrationStatus.ACTIVE));
        assertEquals(450L, atActive.expectedDowntime(), "expected-downtime when the migration turns active");
        cancel(out, source);
    }

    /**
     * The seeds' expected_downtime = dirty_bytes_rate / bandwidth, bandwidth in bytes per ms: a
     * guest that dirties faster than the link drains must show more than a second.
     */
    @Test
    void expectedDowntimeIsTheDirtyRateOverTheBandwidth() throws Exception {
        // 32 MiB/s of random page writes re-dirty most of an 8 MiB guest each second, over 4 MiB/s.
        Guest source = track(runningSource(8L << 20, "random:32M/s"));
        OutgoingMigration out = outgoing(source, 4 * MIB, null);
        out.start(SinkConnection.open());
        long initial = MigrationParameters.DEFAULT_DOWNTIME_LIMIT.toMillis();
        MigrationInfo info = out.info();
        long deadline = System.nanoTime() + GUARD.toNanos();
        // Once a dirty sync has measured the guest's rate, the next window estimates anew.
        while (info.ram() == null || info.ram().dirtyPagesRate() == 0 || info.expectedDowntime() == initial) {
            assertTrue(System.nanoTime() < deadline, "expected-downtime never moved from " + initial + ": " + info);
            assertTrue(out.status().isActive(), "the migration cannot converge: " + info);
            Thread.sleep(10);
            info = out.info();
        }
        MigrationInfo.Ram ram = info.ram();
        assertNotNull(ram);
        double dirtyBytesPerSecond = (double) ram.dirtyPagesRate() * TargetPage.SIZE;
        double linkBytesPerMilli = ram.mbps() * 1e6 / 8 / 1000;
        double expected = dirtyBytesPerSecond / linkBytesPerMilli;
        assertTrue(info.expectedDowntime() > 1000, "expected-downtime " + info.expectedDowntime()
                + " ms while dirtying " + dirtyBytesPerSecond / MIB + " MiB/s over " + ram.mbps() + " Mbit/s");
        assertEquals(expected, info.expectedDowntime(), expected / 4,
                "dirty bytes per second over bytes per ms (the window's mbps may have moved since)");
        cancel(out, source);
    }
}
