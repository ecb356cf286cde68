package dev.vmmigrate.guest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.block.Disk;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.TargetPage;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkloadTest {
    private static final int PAGE = TargetPage.SIZE;

    @Test
    void sameSeedAndStepsGiveTheSameMemory() throws InterruptedException {
        WorkloadSpec spec = WorkloadSpec.parse("random:unlimited");
        try (RamBlock a = RamBlock.anonymous("ram", 4 << 20);
             RamBlock b = RamBlock.anonymous("ram", 4 << 20);
             RamBlock c = RamBlock.anonymous("ram", 4 << 20)) {
            long steps;
            try (Workload threaded = new Workload(a, spec, 42)) {
                threaded.start();
                Thread.sleep(50);
                threaded.pause();
                steps = threaded.steps();
            }
            assertTrue(steps > 0, "the workload made no step");
            Workload sync = new Workload(b, spec, 42);
            assertEquals(steps, sync.runSteps(steps));
            assertEquals(-1, a.memory().mismatch(b.memory()), "same seed, same steps, different memory");

            new Workload(c, spec, 43).runSteps(steps);
            assertNotEquals(-1, a.memory().mismatch(c.memory()), "different seeds gave the same memory");
        }
    }

    @Test
    void everyWrittenPageIsMarkedDirty() {
        try (RamBlock block = RamBlock.anonymous("ram", 256 * PAGE)) {
            new Workload(block, WorkloadSpec.parse("random:unlimited"), 1).runSteps(100);
            long[] dirty = new long[block.dirty().words()];
            block.dirty().drainInto(dirty);
            for (long p = 0; p < block.pageCount(); p++) {
                boolean marked = (dirty[(int) (p >>> 6)] & (1L << p)) != 0;
                assertEquals(!block.isZeroPage(p), marked, "page " + p);
            }
        }
    }

    @Test
    void sweepIncrementsTheFirstByteOfEachPageInTurn() {
        try (RamBlock block = RamBlock.anonymous("ram", 16 * PAGE)) {
            Workload w = new Workload(block, WorkloadSpec.parse("sweep:1G/s"), 7);
            w.runSteps(40);
            for (int p = 0; p < 16; p++) {
                assertEquals(p < 8 ? 3 : 2, block.memory().get(ValueLayout.JAVA_BYTE, (long) p * PAGE), "page " + p);
                assertEquals(-1, block.memory().asSlice((long) p * PAGE + 1, PAGE - 1)
                        .mismatch(MemorySegment.ofArray(new byte[PAGE - 1])), "only the first byte changes");
            }
            assertEquals(16, block.dirty().count());
        }
    }

    @Test
    void sweepSpansBlocksInOrder() {
        try (RamBlock first = RamBlock.anonymous("ram", 2 * PAGE);
             RamBlock second = RamBlock.anonymous("extra", 3 * PAGE)) {
            Workload w = new Workload(List.of(first, second), WorkloadSpec.parse("sweep:unlimited"), 0);
            assertEquals(5, w.totalPages());
            w.runSteps(7);
            assertEquals(2, first.memory().get(ValueLayout.JAVA_BYTE, 0));
            assertEquals(2, first.memory().get(ValueLayout.JAVA_BYTE, PAGE));
            assertEquals(1, second.memory().get(ValueLayout.JAVA_BYTE, 0));
            assertEquals(1, second.memory().get(ValueLayout.JAVA_BYTE, 2L * PAGE));
            assertEquals(3, second.dirty().count());
        }
    }

    @Test
    void hotsetStaysInItsShareOfRam() {
        try (RamBlock block = RamBlock.anonymous("ram", 1000 * PAGE)) {
            new Workload(block, WorkloadSpec.parse("hotset:unlimited:5%"), 3).runSteps(2000);
            long written = 0;
            for (long p = 0; p < block.pageCount(); p++) {
                if (!block.isZeroPage(p)) {
                    assertTrue(p < 50, "hot set page " + p + " beyond the first 5%");
                    written++;
                }
            }
            assertTrue(written > 40, "only " + written + " hot pages written");
        }
    }

    @Test
    void noneWritesNothing() throws InterruptedException {
        try (RamBlock block = RamBlock.anonymous("ram", 16 * PAGE); Workload w = new Workload(block, WorkloadSpec.NONE, 1)) {
            assertEquals(0, w.runSteps(10));
            w.start();
            Thread.sleep(20);
            w.pause();
            assertEquals(0, w.steps());
            assertEquals(0, block.dirty().count());
        }
    }

    @Test
    void pauseQuiescesMemory() throws InterruptedException {
        try (RamBlock block = RamBlock.anonymous("ram", 1 << 20);
             Workload w = new Workload(block, WorkloadSpec.parse("random:unlimited"), 9)) {
            w.start();
            Thread.sleep(30);
            w.pause();
            assertFalse(w.isRunning());
            long steps = w.steps();
            byte[] snapshot = block.memory().toArray(ValueLayout.JAVA_BYTE);
            Thread.sleep(100);
            assertEquals(steps, w.steps());
            assertArrayEquals(snapshot, block.memory().toArray(ValueLayout.JAVA_BYTE), "memory changed after pause()");
            w.restore(w.state()); // allowed while paused
            assertEquals(steps, w.runSteps(0));
        }
    }

    @Test
    void resumeContinuesAndStopEnds() throws InterruptedException {
        try (RamBlock block = RamBlock.anonymous("ram", 1 << 20);
             Workload w = new Workload(block, WorkloadSpec.parse("random:unlimited"), 9)) {
            w.start();
            w.pause();
            long before = w.steps();
            w.resume();
            waitForSteps(w, before + 100);
            assertThrows(IllegalStateException.class, () -> w.runSteps(1));
            assertThrows(IllegalStateException.class, () -> w.restore(w.state()));
            assertThrows(IllegalStateException.class, w::start);
            w.stop();
            long after = w.steps();
            Thread.sleep(20);
            assertEquals(after, w.steps());
            assertThrows(IllegalStateException.class, w::resume);
        }
    }

    @Test
    void rateIsAnUpperBound() throws InterruptedException {
        // 4 MiB/s = 1024 pages/s: at most ~10 ms of burst beyond the elapsed time's share.
        try (RamBlock block = RamBlock.anonymous("ram", 1 << 20);
             Workload w = new Workload(block, WorkloadSpec.parse("random:4M/s"), 5)) {
            long start = System.nanoTime();
            w.start();
            Thread.sleep(200);
            w.pause();
            double seconds = (System.nanoTime() - start) / 1e9;
            long steps = w.steps();
            assertTrue(steps <= seconds * 1024 + 25, steps + " steps in " + seconds + " s at 1024 pages/s");
            assertTrue(steps > 0);
        }
    }

    @Test
    void throttleReducesTheWriteCount() throws InterruptedException {
        // 40 MiB/s = 10240 pages/s, a rate any machine sustains: the throttle, not the CPU, limits it.
        long free = stepsIn(0);
        long throttled = stepsIn(80);
        assertTrue(throttled < free * 0.6, "throttle 80%: " + throttled + " steps vs " + free + " unthrottled");
        try (RamBlock block = RamBlock.anonymous("x", PAGE)) {
            Workload w = new Workload(block, WorkloadSpec.NONE, 0);
            assertThrows(IllegalArgumentException.class, () -> w.setThrottlePercent(100));
            assertThrows(IllegalArgumentException.class, () -> w.setThrottlePercent(-1));
            w.setThrottlePercent(99);
            assertEquals(99, w.throttlePercent());
        }
    }

    @Test
    void fillHalfRandomIsDeterministic() {
        try (RamBlock a = RamBlock.anonymous("ram", 2048 * PAGE); RamBlock b = RamBlock.anonymous("ram", 2048 * PAGE)) {
            Workload.fillHalfRandom(a, 11);
            b.memory().fill((byte) 0x33); // not zero before: zero pages must come out zero anyway
            Workload.fillHalfRandom(b, 11);
            assertEquals(-1, a.memory().mismatch(b.memory()));
            long zero = 0;
            for (long p = 0; p < a.pageCount(); p++) {
                if (a.isZeroPage(p)) {
                    zero++;
                }
            }
            assertTrue(zero > 800 && zero < 1250, zero + " zero pages of 2048");
        }
    }

    private static long stepsIn(int throttle) throws InterruptedException {
        try (RamBlock block = RamBlock.anonymous("ram", 1 << 20);
             Workload w = new Workload(block, WorkloadSpec.parse("random:40M/s"), 5)) {
            w.setThrottlePercent(throttle);
            w.start();
            Thread.sleep(300);
            w.pause();
            return w.steps();
        }
    }

    private static void waitForSteps(Workload w, long steps) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (w.steps() < steps) {
            assertTrue(System.nanoTime() < deadline, "workload stuck at " + w.steps() + " steps");
            Thread.sleep(1);
        }
    }
    @Test
    void diskWritesAreDeterministicMarkedDirtyAndEveryIntervalSteps(@TempDir Path dir) throws Exception {
        WorkloadSpec spec = WorkloadSpec.parse("random:unlimited");
        Path a = dir.resolve("a.raw");
        Path b = dir.resolve("b.raw");
        Path c = dir.resolve("c.raw");
        for (Path p : List.of(a, b, c)) {
            Files.write(p, new byte[(3 << 20) + 4096]);
        }
        long steps = 50L * Workload.DISK_WRITE_INTERVAL + 5;
        try (RamBlock ramA = RamBlock.anonymous("ram", 1 << 20);
             RamBlock ramB = RamBlock.anonymous("ram", 1 << 20);
             RamBlock ramC = RamBlock.anonymous("ram", 1 << 20);
             RamBlock plain = RamBlock.anonymous("ram", 1 << 20);
             Disk diskA = Disk.open("disk0", a); Disk diskB = Disk.open("disk0", b); Disk diskC = Disk.open("disk0", c)) {
            new Workload(List.of(ramA), diskA, spec, 42).runSteps(steps);
            new Workload(List.of(ramB), diskB, spec, 42).runSteps(steps);
            new Workload(List.of(ramC), diskC, spec, 43).runSteps(steps);
            new Workload(plain, spec, 42).runSteps(steps);
            assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "same seed, same steps, different disks");
            assertFalse(Arrays.equals(Files.readAllBytes(a), Files.readAllBytes(c)), "different seeds wrote the same");
            assertEquals(-1, ramA.memory().mismatch(plain.memory()), "a disk leaves the RAM writes as they were");

            byte[] bytes = Files.readAllBytes(a);
            long written = 0;
            for (int off = 0; off < bytes.length; off += Workload.DISK_WRITE_SIZE) {
                boolean nonZero = false;
                for (int i = off; i < off + Workload.DISK_WRITE_SIZE && !nonZero; i++) {
                    nonZero = bytes[i] != 0;
                }
                if (nonZero) {
                    written++;
                    assertTrue(diskA.dirty().isDirty(off / Disk.CHUNK_SIZE), "written block at " + off + " not dirty");
                }
            }
            assertTrue(written > 40 && written <= 50, written + " disk blocks written in " + steps + " steps");
            assertTrue(diskA.dirty().count() >= 1 && diskA.dirty().count() <= diskA.chunkCount());
        }
    }

    @Test
    void pauseQuiescesTheDiskToo(@TempDir Path dir) throws Exception {
        Path image = dir.resolve("d.raw");
        Files.write(image, new byte[1 << 20]);
        try (RamBlock block = RamBlock.anonymous("ram", 1 << 20); Disk disk = Disk.open("disk0", image);
             Workload w = new Workload(List.of(block), disk, WorkloadSpec.parse("random:unlimited"), 9)) {
            w.start();
            waitForSteps(w, 20L * Workload.DISK_WRITE_INTERVAL);
            w.pause();
            byte[] snapshot = Files.readAllBytes(image);
            Thread.sleep(50);
            assertArrayEquals(snapshot, Files.readAllBytes(image), "disk changed after pause()");
            assertTrue(disk.dirty().count() > 0);
        }
    }
}
