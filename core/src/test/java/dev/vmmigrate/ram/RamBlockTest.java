package dev.vmmigrate.ram;

import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.testing.ResidentPages;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RamBlockTest {
    @TempDir
    Path dir;

    @Test
    void a64GiBBlockCostsNothingUntilTouched() throws IOException {
        long before = rssBytes();
        long length = 64L << 30;
        try (RamBlock block = RamBlock.anonymous("ram", length)) {
            assertEquals(length, block.length());
            assertEquals(length / TargetPage.SIZE, block.pageCount());
            assertEquals(length, block.memory().byteSize());
            block.memory().set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
            block.memory().set(ValueLayout.JAVA_BYTE, length - 1, (byte) 2);
            assertFalse(block.isZeroPage(0));
            assertFalse(block.isZeroPage(block.pageCount() - 1));
            assertTrue(block.isZeroPage(block.pageCount() / 2));
            long during = rssBytes();
            assertTrue(during - before < 256L << 20, "RSS grew by " + (during - before) + " bytes");
        }
        long after = rssBytes();
        assertTrue(after - before < 256L << 20, "RSS grew by " + (after - before) + " bytes");
    }

    @Test
    void anAnonymousBlockIsUntouchedUntilItsMemoryIsHandedOut() throws Throwable {
        try (RamBlock block = RamBlock.anonymous("ram", 16 * TargetPage.SIZE)) {
            assertTrue(block.untouched());
            assertTrue(block.isZeroPage(3), "a fresh page reads as zero");
            assertTrue(block.untouched(), "reading a page is not handing the memory out");
            block.memory();
            assertFalse(block.untouched());
        }
    }

    @Test
    void smallPagesFaultInOnlyThePagesWritten() throws Throwable {
        long length = 8L << 20; // four huge pages' worth
        try (RamBlock block = RamBlock.anonymous("ram", length)) {
            for (long offset = 0; offset < length; offset += 1L << 20) {
                block.memory().set(ValueLayout.JAVA_BYTE, offset, (byte) 1);
            }
            assertEquals(8, ResidentPages.count(block.memory()));
        }
    }

    @Test
    void populateBacksExactlyTheRangeAndKeepsItsContents() throws Throwable {
        try (RamBlock block = RamBlock.anonymous("ram", 64 * TargetPage.SIZE)) {
            block.populate(8 * TargetPage.SIZE, 3 * TargetPage.SIZE);
            assertEquals(3, ResidentPages.count(block.memory()), "the three pages asked for, no more");
            assertTrue(block.isZeroPage(8) && block.isZeroPage(10), "backed pages still read as zero");
            block.memory().set(ValueLayout.JAVA_BYTE, 9 * TargetPage.SIZE + 5, (byte) 7);
            block.populate(9 * TargetPage.SIZE, TargetPage.SIZE);
            assertEquals(7, block.memory().get(ValueLayout.JAVA_BYTE, 9 * TargetPage.SIZE + 5), "a written page keeps its bytes");
            assertThrows(IndexOutOfBoundsException.class, () -> block.populate(63 * TargetPage.SIZE, 2 * TargetPage.SIZE));
        }
    }

    @Test
    void updateCrcDigestsTheBytesWithoutFaultingInPagesNeverWritten() throws Throwable {
        long pages = 1100;
        try (RamBlock block = RamBlock.anonymous("ram", pages * TargetPage.SIZE)) {
            for (long page : new long[] {0, 1, 7, 600, pages - 1}) {
                block.memory().asSlice(page * TargetPage.SIZE, TargetPage.SIZE).fill((byte) (page + 3));
            }
            long resident = ResidentPages.count(block.memory());
            for (long[] range : new long[][] {
                    {0, pages * TargetPage.SIZE}, {5000, 3_000_000}, {TargetPage.SIZE, 2 * TargetPage.SIZE}}) {
                byte[] bytes = block.memory().asSlice(range[0], range[1]).toArray(ValueLayout.JAVA_BYTE);
                CRC32C expected = new CRC32C();
                expected.update(bytes);
                CRC32C actual = new CRC32C();
                block.updateCrc(actual, range[0], range[1]);
                assertEquals(expected.getValue(), actual.getValue(), "range " + range[0] + "+" + range[1]);
            }
            CRC32C again = new CRC32C();
            try (RamBlock fresh = RamBlock.anonymous("ram", pages * TargetPage.SIZE)) {
                fresh.updateCrc(again, 0, pages * TargetPage.SIZE);
                assertEquals(0, ResidentPages.count(fresh.memory()), "digesting zero pages faults none in");
            }
            CRC32C zeros = new CRC32C();
            zeros.update(new byte[(int) (pages * TargetPage.SIZE)]);
            assertEquals(zeros.getValue(), again.getValue());
            assertTrue(resident <= 6, resident + " pages resident");
        }
    }

    @Test
    void aFileBlockIsUntouchedOnlyWhenItCreatedTheFile() throws IOException {
        Path created = dir.resolve("new.ram");
        try (RamBlock block = RamBlock.mapFile("ram", created, 4 * TargetPage.SIZE)) {
            assertTrue(block.untouched());
        }
        try (RamBlock block = RamBlock.mapFile("ram", created, 4 * TargetPage.SIZE)) {
            assertFalse(block.untouched(), "an existing file may hold anything");
        }
    }

    @Test
    void closeWaitsOutADigestInProgressAndTheDigestThenFails() throws Exception {
        RamBlock block = RamBlock.anonymous("ram", 64L << 20);
        for (long page = 0; page < block.pageCount(); page += 2) {
            block.memory().set(ValueLayout.JAVA_BYTE, page * TargetPage.SIZE, (byte) 1);
        }
        java.util.concurrent.CompletableFuture<Throwable> reader = new java.util.concurrent.CompletableFuture<>();
        java.util.concurrent.CountDownLatch reading = new java.util.concurrent.CountDownLatch(1);
        Thread.ofPlatform().start(() -> {
            try {
                while (true) { // as the digest begun when RAM is final: reads until the block goes
                    block.updateCrc(new CRC32C(), 0, block.length());
                    reading.countDown();
                }
            } catch (Throwable t) {
                reader.complete(t);
            }
        });
        reading.await();
        block.close(); // a shared arena refuses while an access is in progress: close must wait it out
        assertTrue(reader.get(30, java.util.concurrent.TimeUnit.SECONDS) instanceof IllegalStateException,
                "the reader's next access failed cleanly");
    }

    @Test
    void memoryIsUnusableAfterClose() {
        RamBlock block = RamBlock.anonymous("ram", 1 << 20);
        block.memory().set(ValueLayout.JAVA_LONG, 8, 42);
        block.close();
        block.close();
        assertThrows(IllegalStateException.class, () -> block.memory().get(ValueLayout.JAVA_LONG, 8));
    }

    @Test
    void refusesBadLengthsAndIds() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RamBlock.anonymous("ram", 4097));
        assertTrue(e.getMessage().contains("4097"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RamBlock.anonymous("ram", 0));
        assertThrows(IllegalArgumentException.class, () -> RamBlock.anonymous("ram", -TargetPage.SIZE));
        assertThrows(IllegalArgumentException.class, () -> RamBlock.anonymous("", TargetPage.SIZE));
        assertThrows(IllegalArgumentException.class, () -> RamBlock.anonymous("x".repeat(256), TargetPage.SIZE));
        RamBlock.anonymous("x".repeat(255), TargetPage.SIZE).close();
        Path file = dir.resolve("odd.ram");
        e = assertThrows(IllegalArgumentException.class, () -> RamBlock.mapFile("ram", file, 1000));
        assertTrue(e.getMessage().contains("1000"), e.getMessage());
        assertFalse(Files.exists(file), "a refused size must not leave a file behind");
    }

    @Test
    void isZeroPageSeesTheEdgeBytes() {
        try (RamBlock block = RamBlock.anonymous("ram", 4 * TargetPage.SIZE)) {
            var mem = block.memory();
            for (long p = 0; p < 4; p++) {
                assertTrue(block.isZeroPage(p));
            }
            mem.set(ValueLayout.JAVA_BYTE, 2L * TargetPage.SIZE - 1, (byte) 1); // last byte of page 1
            assertTrue(block.isZeroPage(0));
            assertFalse(block.isZeroPage(1));
            assertTrue(block.isZeroPage(2));
            mem.set(ValueLayout.JAVA_BYTE, 2L * TargetPage.SIZE - 1, (byte) 0);
            assertTrue(block.isZeroPage(1));
            mem.set(ValueLayout.JAVA_BYTE, 2L * TargetPage.SIZE, (byte) 0x80); // first byte of page 2
            assertTrue(block.isZeroPage(1));
            assertFalse(block.isZeroPage(2));
            assertTrue(block.isZeroPage(3));
            assertThrows(IndexOutOfBoundsException.class, () -> block.isZeroPage(4));
            assertFalse(RamBlock.isZero(mem.asSlice(2L * TargetPage.SIZE, TargetPage.SIZE)));
            assertTrue(RamBlock.isZero(mem.asSlice(3L * TargetPage.SIZE, TargetPage.SIZE)));
        }
    }

    @Test
    void mapFileCreatesASparseFileAndWritesThrough() throws IOException {
        Path file = dir.resolve("guest.ram");
        long length = 16L << 20;
        try (RamBlock block = RamBlock.mapFile("ram", file, length)) {
            assertEquals(length, Files.size(file));
            assertEquals(file, block.file().orElseThrow());
            block.memory().set(ValueLayout.JAVA_BYTE, TargetPage.SIZE + 10, (byte) 0x5a);
            block.memory().set(ValueLayout.JAVA_BYTE, length - 1, (byte) 0x7f);
            block.force();
            byte[] bytes = Files.readAllBytes(file);
            assertEquals(0x5a, bytes[TargetPage.SIZE + 10]);
            assertEquals(0x7f, bytes[(int) length - 1]);
            assertEquals(0, bytes[TargetPage.SIZE + 11]);
        }
        // The file is the memory: mapping it again (size from the file) sees the same bytes.
        try (RamBlock again = RamBlock.mapFile("ram", file, -1)) {
            assertEquals(length, again.length());
            assertEquals(0x5a, again.memory().get(ValueLayout.JAVA_BYTE, TargetPage.SIZE + 10));
            assertTrue(again.isZeroPage(0));
        }
    }

    @Test
    void mapFileSeesExistingContents() throws IOException {
        Path file = dir.resolve("existing.ram");
        byte[] content = new byte[2 * TargetPage.SIZE];
        content[TargetPage.SIZE] = 9;
        Files.write(file, content);
        try (RamBlock block = RamBlock.mapFile("pc.ram", file, content.length)) {
            byte[] copy = block.memory().toArray(ValueLayout.JAVA_BYTE);
            assertArrayEquals(content, copy);
            assertTrue(block.isZeroPage(0));
            assertFalse(block.isZeroPage(1));
        }
    }

    @Test
    void mapFileRefusesASizeMismatch() throws IOException {
        Path file = dir.resolve("small.ram");
        Files.write(file, new byte[8192]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RamBlock.mapFile("ram", file, 4096));
        assertEquals("ram file " + file + " has 8192 bytes, guest RAM is 4096 bytes", e.getMessage());
        assertEquals(8192, Files.size(file));

        Path missing = dir.resolve("missing.ram");
        assertThrows(IllegalArgumentException.class, () -> RamBlock.mapFile("ram", missing, -1));
        Path odd = dir.resolve("odd.ram");
        Files.write(odd, new byte[5000]);
        e = assertThrows(IllegalArgumentException.class, () -> RamBlock.mapFile("ram", odd, -1));
        assertTrue(e.getMessage().contains("5000"), e.getMessage());
    }

    @Test
    void eachBlockHasADirtyBitmapOfItsPages() {
        try (RamBlock block = RamBlock.anonymous("ram", 100 * TargetPage.SIZE)) {
            assertEquals(100, block.dirty().pages());
            assertEquals(2, block.dirty().words());
        }
    }

    private static long rssBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                String[] parts = line.substring(6).trim().split("\\s+");
                return Long.parseLong(parts[0]) * 1024;
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }
}
