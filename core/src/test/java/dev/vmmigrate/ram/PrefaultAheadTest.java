package dev.vmmigrate.ram;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrefaultAheadTest {
    private static final long REGION = PrefaultAhead.REGION;

    /** Records the ranges asked for, by region index. */
    private static final class Recorder implements PrefaultAhead.Populator {
        final List<Long> regions = new CopyOnWriteArrayList<>();

        @Override
        public boolean populate(long offset, long length) {
            regions.add(offset / REGION);
            return true;
        }

        /** Waits (hang guard only) until {@code count} regions were asked for. */
        List<Long> await(int count) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (regions.size() < count && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            return List.copyOf(regions);
        }
    }

    @Test
    void aLoaderWritingRegionAfterRegionIsRunAheadOf() throws InterruptedException {
        Recorder recorder = new Recorder();
        try (PrefaultAhead prefault = new PrefaultAhead("t", 64 * REGION, recorder)) {
            prefault.writing(0);
            prefault.writing(REGION + 4096); // the second region in a row: a streaming loader
            assertEquals(List.of(2L, 3L, 4L, 5L), recorder.await(4));
            prefault.writing(2 * REGION);
            assertEquals(List.of(2L, 3L, 4L, 5L, 6L), recorder.await(5), "one more region each step");
        }
    }

    @Test
    void aSparseLoaderIsNotRunAheadOf() throws InterruptedException {
        Recorder recorder = new Recorder();
        try (PrefaultAhead prefault = new PrefaultAhead("t", 64 * REGION, recorder)) {
            prefault.writing(0);
            prefault.writing(10 * REGION);
            prefault.writing(20 * REGION);
            prefault.writing(20 * REGION + 8192); // same region again
            prefault.writing(30 * REGION);
            prefault.writing(31 * REGION); // streaming from here: the requests are served in order
            assertEquals(List.of(32L, 33L, 34L, 35L), recorder.await(4),
                    "only the regions after a run of written regions are faulted in");
        }
    }

    @Test
    void itStopsAtTheEndOfTheBlock() throws InterruptedException {
        Recorder recorder = new Recorder();
        long length = 4 * REGION + 4096; // a short last region
        try (PrefaultAhead prefault = new PrefaultAhead("t", length, recorder)) {
            prefault.writing(2 * REGION);
            prefault.writing(3 * REGION);
            assertEquals(List.of(4L), recorder.await(1));
        }
        assertEquals(List.of(4L), recorder.regions);
    }

    @Test
    void populateKeepsTheContentOfAnonymousMemory() {
        try (RamBlock block = RamBlock.anonymous("ram", 4 * REGION)) {
            block.memory().set(java.lang.foreign.ValueLayout.JAVA_LONG, REGION + 8, 0x1122334455667788L);
            assertTrue(block.populate(0, 4 * REGION), "MADV_POPULATE_WRITE (Linux >= 5.14)");
            assertEquals(0x1122334455667788L, block.memory().get(java.lang.foreign.ValueLayout.JAVA_LONG, REGION + 8));
            assertTrue(block.isZeroPage(0));
        }
    }

    @Test
    void fileBackedBlocksAreNotPrefaulted(@TempDir Path dir) {
        try (RamBlock block = RamBlock.mapFile("ram", dir.resolve("ram"), 4 * REGION)) {
            assertNull(PrefaultAhead.of(block));
        }
    }
}
