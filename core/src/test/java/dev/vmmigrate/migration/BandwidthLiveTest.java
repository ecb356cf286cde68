package dev.vmmigrate.migration;

import static dev.vmmigrate.migration.LiveMigrations.acceptAndLoad;
import static dev.vmmigrate.migration.LiveMigrations.assertMigrated;
import static dev.vmmigrate.migration.LiveMigrations.destination;
import static dev.vmmigrate.migration.LiveMigrations.incoming;
import static dev.vmmigrate.migration.LiveMigrations.outgoing;
import static dev.vmmigrate.migration.LiveMigrations.runningSource;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.testing.TestResources;
import dev.vmmigrate.transport.IncomingEndpoint;
import dev.vmmigrate.transport.MigrationUri;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * One live migration over tcp whose speed is lowered, raised and lowered again while it runs
 * (the seeds' migrate_set_speed), each phase's rate measured over whole windows; then the limit
 * is lifted and the migration completes with the destination equal to the source.
 */
@Timeout(120)
class BandwidthLiveTest {
    private static final long MIB = 1L << 20;
    /** 96 MiB of random pages: more than the phases below send (about 60 MiB). */
    private static final long RAM = 192L << 20;
    private static final Duration PHASE = Duration.ofSeconds(2);
    /** Time a new limit gets to take hold before its rate is measured: a few windows. */
    private static final Duration SETTLE = Duration.ofMillis(300);
    /**
     * Before the first phase, longer: while the receiving code is still interpreted it drains the
     * socket slower than 4 MiB/s for a moment, and then the link, not the limit, sets the pace.
     */
    private static final Duration WARM_UP = Duration.ofSeconds(1);

    private final TestResources resources = new TestResources();

    @AfterEach
    void release() throws Exception {
        resources.close();
    }

    private <T extends AutoCloseable> T track(T resource) {
        return resources.track(resource);
    }

    @Test
    void speedChangesApplyToTheRunningMigration() throws Exception {
        Guest source = track(runningSource(RAM, "random:1M/s"));
        Guest target = track(destination(RAM));
        IncomingEndpoint endpoint = track(MigrationUri.parse("tcp:127.0.0.1:0").listen());
        IncomingMigration in = incoming(target);
        acceptAndLoad(endpoint, in);
        OutgoingMigration out = outgoing(source, 4 * MIB, null);
        out.start(MigrationUri.parse(endpoint.boundAddress()).connect());

        StringBuilder measured = new StringBuilder();
        Thread.sleep(WARM_UP.toMillis() - SETTLE.toMillis());
        for (long mibPerSecond : new long[] {4, 16, 4}) {
            out.setParameters(new MigrationParameters(mibPerSecond * MIB, MigrationParameters.DEFAULT_DOWNTIME_LIMIT,
                    null));
            Thread.sleep(SETTLE.toMillis());
            WindowRate.Measurement rate = WindowRate.measure(out, PHASE);
            measured.append(String.format(" %d M/s: %.3f MiB/s;", mibPerSecond, rate.rate() / MIB));
            assertEquals(MigrationStatus.ACTIVE, out.status(), "still in the first pass");
            WindowRate.assertWithin(2, mibPerSecond * MIB, rate, "phase at " + mibPerSecond + " MiB/s");
        }
        System.out.println("BandwidthLiveTest measured" + measured);

        out.setParameters(new MigrationParameters(MigrationParameters.UNLIMITED,
                MigrationParameters.DEFAULT_DOWNTIME_LIMIT, null));
        assertMigrated(source, target, out, in);
    }
}
