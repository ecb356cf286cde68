package dev.vmmigrate.block;

import static dev.vmmigrate.block.BlockStreams.MIB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DiskTest {
    @TempDir
    Path dir;

    @Test
    void writesLandInTheFileAndMarkEveryChunkTheyTouch() throws IOException {
        Path image = BlockStreams.image(dir, "d.raw", new byte[3 * MIB + 100]);
        try (Disk disk = Disk.open("disk0", image)) {
            assertEquals("disk0", disk.id());
            assertEquals(3L * MIB + 100, disk.length());
            assertEquals(4, disk.chunkCount());
            assertEquals(100, disk.chunkLength(3));
            disk.write(MIB - 2, new byte[] {1, 2, 3, 4});        // chunks 0 and 1
            disk.write(3L * MIB + 99, MemorySegment.ofArray(new byte[] {5})); // the last byte
            assertTrue(disk.dirty().isDirty(0));
            assertTrue(disk.dirty().isDirty(1));
            assertFalse(disk.dirty().isDirty(2));
            assertTrue(disk.dirty().isDirty(3));
            assertArrayEquals(new byte[] {1, 2, 3, 4}, disk.read(MIB - 2, 4));
            disk.writeZeroes(MIB - 1, 2);
            assertArrayEquals(new byte[] {1, 0, 0, 4}, disk.read(MIB - 2, 4));
            disk.force();
        }
        byte[] file = Files.readAllBytes(image);
        assertEquals(5, file[3 * MIB + 99]);
        assertEquals(1, file[MIB - 2]);
    }

    @Test
    void accessOutsideTheDiskIsRefused() throws IOException {
        try (Disk disk = Disk.open("disk0", BlockStreams.image(dir, "d.raw", new byte[4096]))) {
            assertThrows(IndexOutOfBoundsException.class, () -> disk.write(4095, new byte[2]));
            assertThrows(IndexOutOfBoundsException.class, () -> disk.read(-1, 1));
            assertThrows(IndexOutOfBoundsException.class, () -> disk.read(4096, 1));
            assertEquals(4096, Files.size(disk.path()), "the image never grows");
        }
    }

    @Test
    void openingFailsWithTheImageNamed() throws IOException {
        Path missing = dir.resolve("missing.raw");
        IOException e = assertThrows(IOException.class, () -> Disk.open("disk0", missing));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        Path empty = BlockStreams.image(dir, "empty.raw", new byte[0]);
        IOException emptyError = assertThrows(IOException.class, () -> Disk.open("disk0", empty));
        assertTrue(emptyError.getMessage().contains("empty"), emptyError.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Disk.open("", empty));
        assertThrows(IllegalArgumentException.class, () -> Disk.open("x".repeat(256), empty));
    }

    @Test
    void anImageIsLockedWhileOpen() throws IOException {
        Path image = BlockStreams.image(dir, "d.raw", new byte[4096]);
        try (Disk disk = Disk.open("disk0", image)) {
            IOException e = assertThrows(IOException.class, () -> Disk.open("disk1", image));
            assertTrue(e.getMessage().contains("in use"), e.getMessage());
        }
        Disk.open("disk1", image).close(); // released by close
    }

    @Test
    void createMakesASparseZeroImage() throws IOException {
        Path image = dir.resolve("new.raw");
        try (Disk disk = Disk.create("disk0", image, 5L * MIB + 1)) {
            assertEquals(5L * MIB + 1, Files.size(image));
            assertArrayEquals(new byte[16], disk.read(5L * MIB - 15, 16));
            assertEquals(0, disk.dirty().count());
        }
        assertThrows(IOException.class, () -> Disk.create("disk0", image, MIB));
    }
}
