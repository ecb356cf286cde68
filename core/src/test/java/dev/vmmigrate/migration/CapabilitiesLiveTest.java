package dev.vmmigrate.migration;

import dev.vmmigrate.ownsections.Capability;

import static dev.vmmigrate.migration.LiveMigrations.acceptAndLoad;
import static dev.vmmigrate.migration.LiveMigrations.assertMigrated;
import static dev.vmmigrate.migration.LiveMigrations.awaitOutgoing;
import static dev.vmmigrate.migration.LiveMigrations.destination;
import static dev.vmmigrate.migration.LiveMigrations.incoming;
import static dev.vmmigrate.migration.LiveMigrations.outgoing;
import static dev.vmmigrate.migration.LiveMigrations.runningSource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.block.BlockStats;
import dev.vmmigrate.block.CopyMode;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.WorkloadSpec;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.testing.TestResources;
import dev.vmmigrate.transport.IncomingEndpoint;
import dev.vmmigrate.transport.MigrationUri;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each capability live over tcp with a dirtying guest, ending with the destination equal to the
 * source (RAM, and the disk where there is one).
 */
@Timeout(120)
class CapabilitiesLiveTest {
    private static final long RAM = 16L << 20;

    private final TestResources resources = new TestResources();
    /** The source guest of the latest {@link #migrate}. */
    private Guest lastSource;

    @AfterEach
    void release() throws Exception {
        resources.close();
    }

    private <T extends AutoCloseable> T track(T resource) {
        return resources.track(resource);
    }

    /** Migrates a guest running {@code workload} with {@code capabilities}; returns the finished source side. */
    private OutgoingMigration migrate(long ram, String workload, long bandwidth, Duration timeout,
                                      MigrationCapabilities capabilities, boolean expectCompleted) throws Exception {
        Guest source = track(runningSource(ram, workload));
        lastSource = source;
        Guest target = track(destination(ram));
        IncomingEndpoint endpoint = track(MigrationUri.parse("tcp:127.0.0.1:0").listen());
        var in = incoming(target);
        acceptAndLoad(endpoint, in);
        OutgoingMigration out = outgoing(source, bandwidth, timeout);
        out.setCapabilities(capabilities);
        out.start(MigrationUri.parse(endpoint.boundAddress()).connect());
        if (expectCompleted) {
            assertMigrated(source, target, out, in);
        } else {
            awaitOutgoing(out);
        }
        return out;
    }

    private static MigrationCapabilities with(Capability... capabilities) {
        return new MigrationCapabilities(Set.of(capabilities), MigrationCapabilities.DEFAULT_XBZRLE_CACHE_SIZE,
                MigrationCapabilities.DEFAULT_COMPRESS_LEVEL);
    }

    @Test
    void xbzrleSendsRedirtiedPagesAsDeltas() throws Exception {
        // A sweep touches one byte per page: after the first pass, pages go as tiny XBZRLE deltas.
        // XBZRLE starts with the second pass and hits from the third, so the sweep must outrun
        // two passes; at 48M/s against the link's 24M/s convergence took 4 s to over 45 s, at
        // 24M/s it sometimes ended after two passes; 32M/s passed 14 runs of 14 in 3-5 s.
        OutgoingMigration out = migrate(RAM, "sweep:32M/s", 24L << 20, Duration.ofSeconds(60),
                with(Capability.XBZRLE).withCacheSize(8L << 20), true);
        MigrationInfo.XbzrleCache xbzrle = out.info().xbzrleCache();
        assertNotNull(xbzrle, "stats report the xbzrle cache");
        assertEquals(8L << 20, xbzrle.cacheSize());
        assertTrue(xbzrle.pages() > 0, "some pages went as XBZRLE: " + xbzrle);
        assertTrue(xbzrle.bytes() < xbzrle.pages() * 64, "a one-byte change encodes in a few bytes: " + xbzrle);
    }

    @Test
    void compressSendsZstdPagesTheReceiverLearnsAboutFromTheStream() throws Exception {
        OutgoingMigration out = migrate(RAM, "sweep:16M/s", 64L << 20, Duration.ofSeconds(60),
                with(Capability.COMPRESS), true);
        MigrationInfo.Compression compression = out.info().compression();
        assertNotNull(compression);
        assertTrue(compression.pages() > 0, "sweep pages are mostly zeros: they compress: " + compression);
        assertTrue(compression.compressionRate() > 2, compression.toString());
    }

    @Test
    void autoConvergeThrottlesAGuestThatWouldNotConvergeOtherwise() throws Exception {
        long ram = 8L << 20;
        OutgoingMigration without = migrate(ram, "random:64M/s", 8L << 20, Duration.ofSeconds(4),
                MigrationCapabilities.none(), false);
        assertEquals(MigrationStatus.FAILED, without.status(), "without auto-converge it cannot converge");
        assertTrue(without.error().contains("timeout"), without.error());

        OutgoingMigration with = migrate(ram, "random:64M/s", 8L << 20, Duration.ofSeconds(90),
                with(Capability.AUTO_CONVERGE), true);
        Integer throttle = with.info().cpuThrottlePercentage();
        assertNotNull(throttle, "stats report the throttle");
        assertTrue(throttle >= AutoConverge.INITIAL, "the guest was throttled to converge: " + throttle);
        assertEquals(0, lastSource.workload().throttlePercent(), "the throttle is lifted after the migration");
    }

    /** Migrates a guest with a disk; returns the source's block handler for its stats. */
    private BlockMigration migrateWithDisk(Path sourceImage, Path targetImage, CopyMode mode, Path base,
                                           String workload, MigrationCapabilities capabilities) throws Exception {
        Guest source = track(Guest.builder().ramSize(8L << 20).workload(WorkloadSpec.parse(workload)).seed(7)
                .disk(sourceImage).build());
        source.start();
        long deadline = System.nanoTime() + LiveMigrations.GUARD.toNanos();
        while (source.workload().steps() == 0) { // the workload must have run before the migration
            assertTrue(System.nanoTime() < deadline, "workload " + workload + " made no step");
            Thread.sleep(2);
        }
        Guest target = track(Guest.builder().ramSize(8L << 20).incoming(true).disk(targetImage).build());
        IncomingEndpoint endpoint = track(MigrationUri.parse("tcp:127.0.0.1:0").listen());
        IncomingMigration in = MachineStreams.of(target, false,
                new BlockMigration(List.of(target.disk().orElseThrow()))).incoming(target, true);
        acceptAndLoad(endpoint, in);
        BlockMigration block = new BlockMigration(List.of(source.disk().orElseThrow()), mode, base, false,
                new BlockStats());
        OutgoingMigration out = new OutgoingMigration(source, MachineStreams.of(source, false, block));
        out.setParameters(new MigrationParameters(64L << 20, MigrationParameters.DEFAULT_DOWNTIME_LIMIT,
                Duration.ofSeconds(60)));
        out.setCapabilities(capabilities);
        out.start(MigrationUri.parse(endpoint.boundAddress()).connect());
        assertMigrated(source, target, out, in);
        MigrationInfo.Disk disk = out.info().disk();
        assertNotNull(disk, "stats report the disk");
        assertEquals(Files.size(sourceImage), disk.total());
        assertEquals(0, disk.remaining());
        source.disk().orElseThrow().force();
        target.disk().orElseThrow().force();
        assertEquals(-1, Arrays.mismatch(Files.readAllBytes(sourceImage), Files.readAllBytes(targetImage)),
                "the destination's disk equals the source's");
        return block;
    }

    private static byte[] random(int length, long seed) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    @Test
    void blockMigrationWithZeroBlocksCopiesADiskTheWorkloadWrites(@TempDir Path dir) throws Exception {
        int chunk = 1 << 20;
        // 30 zero chunks between random ones, and a short last chunk. The workload writes one
        // random 4 KiB block of the disk about 64 times a second from before the migration
        // starts: with only a few zero chunks it could write into every one of them before the
        // bulk phase reached them, and no chunk went as zero. To write into all 30 it would
        // need about 120 writes, two seconds.
        int zeroChunks = 30;
        byte[] content = new byte[(2 + zeroChunks) * chunk + chunk / 2];
        System.arraycopy(random(2 * chunk, 1), 0, content, 0, 2 * chunk);
        System.arraycopy(random(chunk / 2, 2), 0, content, (2 + zeroChunks) * chunk, chunk / 2);
        Path sourceImage = Files.write(dir.resolve("source.img"), content);
        Path targetImage = Files.write(dir.resolve("target.img"), random(content.length, 3)); // garbage to overwrite
        BlockMigration block = migrateWithDisk(sourceImage, targetImage, CopyMode.ALL, null, "random:16M/s",
                with(Capability.ZERO_BLOCKS));
        assertTrue(block.stats().zeroChunks.get() > 0, "zero chunks travelled without data");
    }

    @Test
    void incrementalBlockMigrationSendsOnlyWhatDiffersFromTheBase(@TempDir Path dir) throws Exception {
        int chunk = 1 << 20;
        byte[] base = random(8 * chunk, 4);
        Path baseImage = Files.write(dir.resolve("base.img"), base);
        byte[] current = base.clone();
        System.arraycopy(random(chunk, 5), 0, current, 2 * chunk, chunk);
        current[7 * chunk + 10] ^= 1;
        Path sourceImage = Files.write(dir.resolve("source.img"), current);
        Path targetImage = Files.write(dir.resolve("target.img"), base);
        BlockMigration block = migrateWithDisk(sourceImage, targetImage, CopyMode.INC, baseImage, "sweep:1M/s",
                MigrationCapabilities.none());
        assertEquals(6, block.stats().unchangedChunks.get(), "chunks equal to the base stay home");
        assertEquals(2, block.stats().dataChunks.get() - block.stats().dirtyChunks.get(),
                "the bulk phase sent only the two chunks that differ from the base");
    }

    @Test
    void xbzrleCacheSizesTheSeedsRefuseAreRefused() throws Exception {
        Guest source = track(runningSource(RAM, "none"));
        OutgoingMigration out = outgoing(source, 64L << 20, null);
        MigrationException larger = assertThrows(MigrationException.class,
                () -> out.setCapabilities(with(Capability.XBZRLE).withCacheSize(RAM * 2)));
        assertTrue(larger.getMessage().contains("exceeds guest ram size"), larger.getMessage());
        MigrationException smaller = assertThrows(MigrationException.class,
                () -> out.setCapabilities(with(Capability.XBZRLE).withCacheSize(100)));
        assertTrue(smaller.getMessage().contains("smaller than page size"), smaller.getMessage());
        MigrationException huge = assertThrows(MigrationException.class,
                () -> out.setCapabilities(with(Capability.XBZRLE).withCacheSize(Long.MAX_VALUE)));
        assertTrue(huge.getMessage().contains("exceeding address space"), huge.getMessage());
    }

    /**
     * The seeds' migrate_set_cache_size during a migration: checked and rounded as before one,
     * applied to the live cache at once (from this thread while the migration thread uses it),
     * and the migration still ends with the destination equal to the source.
     */
    @Test
    void xbzrleCacheSizeChangesDuringAMigration() throws Exception {
        long ram = 8L << 20;
        Guest source = track(runningSource(ram, "sweep:32M/s"));
        Guest target = track(destination(ram));
        IncomingEndpoint endpoint = track(MigrationUri.parse("tcp:127.0.0.1:0").listen());
        var in = incoming(target);
        acceptAndLoad(endpoint, in);
        // 8 MiB/s cannot converge while the sweep re-dirties the 8 MiB guest four times a second.
        OutgoingMigration out = outgoing(source, 8L << 20, Duration.ofSeconds(60));
        out.setCapabilities(with(Capability.XBZRLE).withCacheSize(4L << 20));
        out.start(MigrationUri.parse(endpoint.boundAddress()).connect());
        long sync = awaitXbzrlePagesAfterSync(out, 3);

        assertEquals(2L << 20, out.setXbzrleCacheSize(3L << 20), "rounded down to a power of two of pages");
        assertEquals(2L << 20, out.info().xbzrleCache().cacheSize());
        assertEquals(2L << 20, out.capabilities().xbzrleCacheSize());
        MigrationException larger = assertThrows(MigrationException.class, () -> out.setXbzrleCacheSize(ram * 2));
        assertTrue(larger.getMessage().contains("exceeds guest ram size"), larger.getMessage());
        MigrationException smaller = assertThrows(MigrationException.class, () -> out.setXbzrleCacheSize(100));
        assertTrue(smaller.getMessage().contains("smaller than page size"), smaller.getMessage());
        assertEquals(2L << 20, out.info().xbzrleCache().cacheSize(), "a refused size changes nothing");

        awaitXbzrlePagesAfterSync(out, sync + 2); // the small cache in use for a whole pass
        assertEquals(ram, out.setXbzrleCacheSize(ram), "as large as guest RAM");
        assertEquals(ram, out.info().xbzrleCache().cacheSize());
        assertEquals(MigrationStatus.ACTIVE, out.status());

        out.setParameters(new MigrationParameters(MigrationParameters.UNLIMITED,
                MigrationParameters.DEFAULT_DOWNTIME_LIMIT, Duration.ofSeconds(60)));
        assertMigrated(source, target, out, in);
    }

    /** Waits (hang guard only) for dirty sync {@code count} with pages sent as XBZRLE; returns the sync count then. */
    private static long awaitXbzrlePagesAfterSync(OutgoingMigration out, long count) throws InterruptedException {
        long deadline = System.nanoTime() + LiveMigrations.GUARD.toNanos();
        while (true) {
            MigrationInfo info = out.info();
            assertTrue(out.status().isActive(), "cannot converge at 8 MiB/s: " + info);
            if (info.ram() != null && info.ram().dirtySyncCount() >= count && info.xbzrleCache().pages() > 0) {
                return info.ram().dirtySyncCount();
            }
            assertTrue(System.nanoTime() < deadline, "no XBZRLE pages after sync " + count + ": " + info);
            Thread.sleep(10);
        }
    }

    @Test
    void capabilitiesCannotChangeWhileActiveAndRdmaIsRefused() throws Exception {
        Guest source = track(runningSource(64L << 20, "random:16M/s"));
        Guest target = track(destination(64L << 20));
        IncomingEndpoint endpoint = track(MigrationUri.parse("tcp:127.0.0.1:0").listen());
        acceptAndLoad(endpoint, incoming(target));
        OutgoingMigration out = outgoing(source, 8L << 20, Duration.ofSeconds(60));
        LiveMigrations.Recorder recorder = new LiveMigrations.Recorder();
        out.addListener(recorder);
        out.start(MigrationUri.parse(endpoint.boundAddress()).connect());
        recorder.awaitActive();
        MigrationException active = assertThrows(MigrationException.class,
                () -> out.setCapabilities(with(Capability.XBZRLE)));
        assertTrue(active.getMessage().contains("while a migration is active"), active.getMessage());
        out.cancel();
        assertEquals(MigrationStatus.CANCELLED, awaitOutgoing(out));
        assertEquals(RunState.RUNNING, source.runState());

        IllegalArgumentException rdma = assertThrows(IllegalArgumentException.class,
                () -> with(Capability.RDMA_PIN_ALL));
        assertTrue(rdma.getMessage().contains("rdma"), rdma.getMessage());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> Capability.fromName("x-colo"));
        assertTrue(unknown.getMessage().contains("xbzrle, auto-converge, zero-blocks, compress, rdma-pin-all"),
                unknown.getMessage());
    }

    @Test
    void compressIsRefusedTowardsQemu() throws Exception {
        Guest source = track(runningSource(RAM, "none"));
        OutgoingMigration out = new OutgoingMigration(source, MachineStreams.of(source, true));
        MigrationException e = assertThrows(MigrationException.class,
                () -> out.setCapabilities(with(Capability.COMPRESS)));
        assertTrue(e.getMessage().contains("--compat qemu"), e.getMessage());
    }
}
