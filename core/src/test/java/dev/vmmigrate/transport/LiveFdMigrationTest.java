package dev.vmmigrate.transport;

import static dev.vmmigrate.migration.LiveMigrations.GUARD;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.migration.IncomingMigration;
import dev.vmmigrate.migration.LiveMigrations;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.migration.OutgoingMigration;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A live migration over {@code fd:N}: a pipe made as a parent shell would make it, the sender on
 * its write end and the receiver on its read end (here, not in package migration, because the
 * pipe comes from the package-private {@link NativeFds}).
 */
@Timeout(90)
class LiveFdMigrationTest {
    private static final long RAM = 32L << 20;

    @Test
    void migratesThroughAPipe() throws Throwable {
        int[] pipe = NativeFds.pipe();
        try (Guest source = LiveMigrations.runningSource(RAM, "random:32M/s");
             Guest target = LiveMigrations.destination(RAM);
             IncomingEndpoint endpoint = MigrationUri.parse("fd:" + pipe[0]).listen()) {
            IncomingMigration in = LiveMigrations.incoming(target);
            LiveMigrations.acceptAndLoad(endpoint, in).get(GUARD.toSeconds(), TimeUnit.SECONDS);
            OutgoingMigration out = LiveMigrations.outgoing(source, 256L << 20, Duration.ofSeconds(60));
            LiveMigrations.Recorder recorder = new LiveMigrations.Recorder();
            out.addListener(recorder);
            out.start(MigrationUri.parse("fd:" + pipe[1]).connect());
            LiveMigrations.assertMigrated(source, target, out, in);
            assertEquals(List.of(MigrationStatus.SETUP, MigrationStatus.ACTIVE, MigrationStatus.COMPLETED),
                    recorder.statuses());
        }
    }
}
