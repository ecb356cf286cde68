package dev.vmmigrate.block;

import static dev.vmmigrate.block.BlockStreams.MIB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.guest.WorkloadSpec;
import dev.vmmigrate.savevm.HandlerRegistry;
import dev.vmmigrate.savevm.LoadVm;
import dev.vmmigrate.savevm.SaveVm;
import dev.vmmigrate.savevm.StreamPreamble;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Disks migrated source to destination: copy modes, zero blocks, dirty chunks, pending and stats. */
@Timeout(60)
class BlockMigrationTest {
    /** 5.5 MiB: five whole chunks and a short one. */
    private static final int SIZE = 5 * MIB + MIB / 2;

    @TempDir
    Path dir;

    private final List<AutoCloseable> opened = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : opened.reversed()) {
            c.close();
        }
    }

    private Disk disk(String file, byte[] content) throws IOException {
        return disk("disk0", file, content);
    }

    private Disk disk(String id, String file, byte[] content) throws IOException {
        Disk disk = Disk.open(id, BlockStreams.image(dir, file, content));
        opened.add(disk);
        return disk;
    }

    private static BlockMigration all(Disk disk, boolean zeroBlocks, BlockStats stats) {
        return new BlockMigration(List.of(disk), CopyMode.ALL, Map.of(), zeroBlocks, stats).untimed();
    }

    private static byte[] bytes(Disk disk) throws IOException {
        return Files.readAllBytes(disk.path());
    }

    // ---------------------------------------------------------------- round trips

    @Test
    void allModeThroughSaveVmAndLoadVmCopiesADiskWithAShortLastChunk() throws IOException {
        byte[] content = BlockStreams.random(SIZE, 11);
        Disk source = disk("src.raw", content);
        BlockMigration sending = all(source, false, new BlockStats());
        SaveVm saveVm = new SaveVm(new HandlerRegistry().add(sending), new StreamPreamble("none"));
        ByteArrayOutputStream stream = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(stream)) {
            saveVm.setup(out);
            int rounds = 0;
            while (!saveVm.iterate(out)) {
                assertTrue(++rounds < 100, "iteration never ended");
            }
            assertEquals(0, saveVm.pending(0));
            saveVm.complete(out);
        }
        Disk target = disk("dst.raw", new byte[SIZE]);
        LoadVm loadVm = new LoadVm(new HandlerRegistry().add(new BlockMigration(List.of(target))), "none");
        LoadVm.Result result = loadVm.load(MigrationInput.of(stream.toByteArray()));
        assertTrue(result.sections().contains("block"));
        assertArrayEquals(content, bytes(target));
        assertEquals(6, sending.stats().dataChunks.get());
    }

    @Test
    void zeroBlocksCarryNoDataAndZeroTheDestination() throws IOException {
        byte[] content = BlockStreams.random(SIZE, 12);
        for (int chunk : new int[] {1, 3, 5}) { // 5 is the short last chunk
            Arrays.fill(content, chunk * MIB, Math.min(SIZE, (chunk + 1) * MIB), (byte) 0);
        }
        BlockStats stats = new BlockStats();
        BlockStreams.Saved saved = BlockStreams.saveAll(all(disk("src.raw", content), true, stats));

        byte[] garbage = new byte[SIZE];
        Arrays.fill(garbage, (byte) 0xEE);
        Disk target = disk("dst.raw", garbage);
        BlockMigration receiving = new BlockMigration(List.of(target));
        saved.loadInto(receiving);

        assertArrayEquals(content, bytes(target));
        assertEquals(3, stats.zeroChunks.get());
        assertEquals(3, stats.dataChunks.get());
        assertEquals(3, receiving.stats().loadedZeroChunks.get());
        assertEquals(3, receiving.stats().loadedChunks.get());
        // START EOS; PART: 6 PROGRESS, 3 data records, 3 zero records, EOS; END: PROGRESS 100, EOS.
        long record = 8 + 6;
        assertEquals(8 + (6 * 8 + 3 * (record + MIB) + 3 * record + 8) + 16, saved.totalBytes());
        assertEquals(saved.totalBytes(), stats.wireBytes.get());
    }

    @Test
    void incSendsOnlyTheChunksThatDifferFromTheBase() throws IOException {
        byte[] base = BlockStreams.random(SIZE, 13);
        byte[] content = base.clone();
        content[MIB + 77] ^= 1;           // chunk 1
        content[SIZE - 1] ^= (byte) 0x80; // chunk 5, the short one
        Path baseImage = BlockStreams.image(dir, "base.raw", base);
        BlockStats stats = new BlockStats();
        BlockMigration sending = new BlockMigration(List.of(disk("src.raw", content)), CopyMode.INC, baseImage,
                false, stats).untimed();
        BlockStreams.Saved saved = BlockStreams.saveAll(sending);

        List<BlockStreams.Rec> bulk = BlockStreams.records(saved.parts());
        assertEquals(List.of((long) MIB, 5L * MIB), BlockStreams.chunkOffsets(bulk));
        assertEquals(2, stats.dataChunks.get());
        assertEquals(4, stats.unchangedChunks.get());
        assertEquals(SIZE, stats.transferredBytes.get(), "unchanged chunks count as done, as QEMU's skipped sectors");

        Disk target = disk("dst.raw", base);
        saved.loadInto(new BlockMigration(List.of(target)));
        assertArrayEquals(content, bytes(target));
    }

    @Test
    void incTreatsChunksBeyondAShorterBaseAsChanged() throws IOException {
        byte[] content = BlockStreams.random(3 * MIB, 14);
        Path baseImage = BlockStreams.image(dir, "base.raw", Arrays.copyOf(content, 2 * MIB + 10));
        BlockStats stats = new BlockStats();
        BlockStreams.Saved saved = BlockStreams.saveAll(new BlockMigration(List.of(disk("src.raw", content)),
                CopyMode.INC, Map.of("disk0", baseImage), false, stats).untimed());
        assertEquals(List.of(2L * MIB), BlockStreams.chunkOffsets(BlockStreams.records(saved.parts())));
    }

    @Test
    void chunksWrittenDuringTheMigrationAreSentAgain() throws IOException {
        byte[] content = BlockStreams.random(SIZE, 15);
        Disk source = disk("src.raw", content);
        BlockStats stats = new BlockStats();
        BlockMigration sending = all(source, false, stats);
        Disk target = disk("dst.raw", new byte[SIZE]);
        BlockMigration receiving = new BlockMigration(List.of(target));
        List<byte[]> payloads = new ArrayList<>();

        payloads.add(BlockStreams.payload(sending::saveSetup));
        // A one-byte window: every PART carries a single bulk step.
        payloads.add(BlockStreams.payload(out -> {
            out.setRateLimit(1);
            assertFalse(sending.saveIterate(out));
        }));
        assertEquals(List.of(0L), BlockStreams.chunkOffsets(BlockStreams.records(payloads.getLast())));
        source.write(100, new byte[] {1, 2, 3});          // chunk 0, already sent: dirty
        source.write(4L * MIB, new byte[] {4});            // chunk 4, not reached yet: the bulk reads it
        assertEquals(SIZE - MIB + MIB, sending.pending(0), "bulk left (4.5 MiB) + dirty chunk 0; chunk 4 counted once");
        assertEquals(MIB, stats.dirtyPendingBytes.get());
        byte[] rest = BlockStreams.payload(sending::saveIterate);
        payloads.add(rest);
        List<Long> offsets = BlockStreams.chunkOffsets(BlockStreams.records(rest));
        assertEquals(List.of(1L * MIB, 2L * MIB, 3L * MIB, 4L * MIB, 5L * MIB, 0L), offsets,
                "the bulk phase goes on, then the dirty pass re-sends chunk 0");
        assertEquals(1, stats.dirtyChunks.get());

        source.write(SIZE - 2, new byte[] {9, 9});          // the short last chunk, after everything was sent
        assertEquals(MIB / 2, sending.pending(0), "pending is the dirty chunk's size");
        byte[] end = BlockStreams.payload(sending::saveComplete);
        assertEquals(List.of(5L * MIB), BlockStreams.chunkOffsets(BlockStreams.records(end)));

        receiving.load(MigrationInput.of(payloads.get(0)), dev.vmmigrate.savevm.SectionType.START, 1);
        receiving.load(MigrationInput.of(payloads.get(1)), dev.vmmigrate.savevm.SectionType.PART, 1);
        receiving.load(MigrationInput.of(payloads.get(2)), dev.vmmigrate.savevm.SectionType.PART, 1);
        receiving.load(MigrationInput.of(end), dev.vmmigrate.savevm.SectionType.END, 1);
        assertArrayEquals(bytes(source), bytes(target));
        assertEquals(3, bytes(source)[102]);
    }

    @Test
    void aRunningGuestsDiskArrivesAsItWasWhenTheGuestStopped() throws Exception {
        Path image = BlockStreams.image(dir, "guest.raw", BlockStreams.random(8 * MIB, 16));
        Guest guest = Guest.builder().ramSize(1 << 20).disk(image)
                .workload(WorkloadSpec.parse("random:unlimited")).seed(5).build();
        opened.add(guest);
        Disk disk = guest.disk().orElseThrow();
        BlockStats stats = new BlockStats();
        BlockMigration sending = all(disk, true, stats);
        Disk target = disk("dst.raw", new byte[8 * MIB]);
        BlockMigration receiving = new BlockMigration(List.of(target));

        guest.start();
        receiving.load(MigrationInput.of(BlockStreams.payload(sending::saveSetup)),
                dev.vmmigrate.savevm.SectionType.START, 1);
        // At least 20 parts, and on until a chunk went twice (the guest wrote one already sent): how
        // soon that happens depends on the machine, the 30 s are a hang guard only.
        long guard = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        for (int i = 0; i < 20 || (stats.dirtyChunks.get() == 0 && System.nanoTime() < guard); i++) {
            byte[] part = BlockStreams.payload(out -> {
                out.setRateLimit(3L * MIB);
                sending.saveIterate(out);
            });
            receiving.load(MigrationInput.of(part), dev.vmmigrate.savevm.SectionType.PART, 1);
            assertEquals(stats.totalBytes.get(), stats.transferredBytes.get() + stats.remainingBytes());
            if (i >= 20) {
                Thread.sleep(10); // let the guest write its disk again
            }
        }
        guest.stop(RunState.FINISH_MIGRATE);
        assertTrue(guest.workload().steps() > dev.vmmigrate.guest.Workload.DISK_WRITE_INTERVAL, "the guest wrote its disk");
        receiving.load(MigrationInput.of(BlockStreams.payload(sending::saveComplete)),
                dev.vmmigrate.savevm.SectionType.END, 1);
        assertArrayEquals(bytes(disk), bytes(target));
        assertTrue(stats.dirtyChunks.get() > 0, "chunks were re-sent");
    }

    // ---------------------------------------------------------------- pending and stats

    @Test
    void pendingNeverLetsTheMigrationCompleteDuringTheBulkPhase() throws IOException {
        BlockStats stats = new BlockStats();
        BlockMigration sending = all(disk("src.raw", BlockStreams.random(2 * MIB, 17)), false, stats);
        assertEquals(2L * MIB, sending.pending(0), "before setup: the whole disk");
        BlockStreams.payload(sending::saveSetup);
        assertEquals(2L * MIB, sending.pending(0));
        assertEquals(100L * MIB + MIB, sending.pending(100L * MIB), "threshold + 1 MiB while the bulk phase runs");
        assertEquals(Long.MAX_VALUE, sending.pending(Long.MAX_VALUE));
        assertEquals(0, stats.transferredBytes.get());
        assertEquals(2L * MIB, stats.remainingBytes());

        BlockStreams.payload(out -> {
            out.setRateLimit(1);
            sending.saveIterate(out);
        });
        assertEquals(MIB, stats.transferredBytes.get());
        assertEquals(MIB, stats.remainingBytes());
        assertEquals(MIB, sending.pending(0));

        BlockStreams.payload(sending::saveIterate);
        assertEquals(0, sending.pending(0), "bulk phase over, nothing dirty");
        assertEquals(0, sending.pending(100L * MIB));
        assertEquals(2L * MIB, stats.totalBytes.get());
        assertEquals(2L * MIB, stats.transferredBytes.get());
        assertEquals(0, stats.remainingBytes());
        assertEquals(2, stats.dataChunks.get());
        assertEquals(50, stats.progress.get());
    }

    // ---------------------------------------------------------------- arguments

    @Test
    void badArgumentsAreRefusedUpFront() throws IOException {
        Disk a = disk("a.raw", new byte[MIB]);
        Path base = BlockStreams.image(dir, "base.raw", new byte[MIB]);
        BlockStats stats = new BlockStats();
        assertThrows(IllegalArgumentException.class,
                () -> new BlockMigration(List.of(a), CopyMode.INC, Map.of(), false, stats), "inc without a base");
        assertThrows(IllegalArgumentException.class,
                () -> new BlockMigration(List.of(a), CopyMode.ALL, base, false, stats), "all with a base");
        IllegalArgumentException self = assertThrows(IllegalArgumentException.class,
                () -> new BlockMigration(List.of(a), CopyMode.INC, a.path(), false, stats));
        assertTrue(self.getMessage().contains("itself"), self.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new BlockMigration(List.of(a), CopyMode.INC, dir.resolve("missing.raw"), false, stats));
        assertThrows(IllegalArgumentException.class,
                () -> new BlockMigration(List.of(a), CopyMode.INC, Map.of("disk9", base), false, stats));
        Disk twin = disk("b.raw", new byte[MIB]);
        assertThrows(IllegalArgumentException.class, () -> new BlockMigration(List.of(a, twin)));
        assertThrows(IllegalStateException.class,
                () -> new BlockMigration(List.of(a)).saveSetup(MigrationOutput.to(new ByteArrayOutputStream())));
        assertEquals(CopyMode.INC, CopyMode.fromText("inc"));
        assertThrows(IllegalArgumentException.class, () -> CopyMode.fromText("some"));
    }
}
