package dev.vmmigrate.block;

import static dev.vmmigrate.block.BlockStreams.MIB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.ram.GoldenBytes;
import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.Truncation;
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

/**
 * Golden bytes of the block records our handler writes, checked against what QEMU 7.2 wrote for
 * the same disks ({@code migrate -b} of a raw drive {@code disk0}, machine none), and how the
 * loader treats bad records.
 */
@Timeout(60)
class BlockRecordsTest {
    /** "disk0" as a counted string. */
    private static final String DISK0 = "05 6469736b30";

    @TempDir
    Path dir;

    private final List<Disk> opened = new ArrayList<>();

    @AfterEach
    void closeDisks() throws IOException {
        for (Disk d : opened) {
            d.close();
        }
    }

    private Disk disk(String id, String file, byte[] content) throws IOException {
        Disk disk = Disk.open(id, BlockStreams.image(dir, file, content));
        opened.add(disk);
        return disk;
    }

    private static BlockMigration source(Disk disk, boolean zeroBlocks) {
        return new BlockMigration(List.of(disk), CopyMode.ALL, Map.of(), zeroBlocks, new BlockStats()).untimed();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            all.writeBytes(p);
        }
        return all.toByteArray();
    }

    private static byte[] chunkOf(byte[] content, int chunk) {
        return Arrays.copyOf(Arrays.copyOfRange(content, chunk * MIB, Math.min(content.length, (chunk + 1) * MIB)), MIB);
    }

    // ---------------------------------------------------------------- golden bytes

    @Test
    void startPayloadIsJustEos() throws IOException {
        BlockMigration handler = source(disk("disk0", "a.raw", new byte[MIB]), false);
        GoldenBytes.assertSame(Hex.bytes("0000000000000002"), BlockStreams.payload(handler::saveSetup));
    }

    @Test
    void bulkPartIsProgressThenDeviceBlockRecordsThenEos() throws IOException {
        byte[] content = BlockStreams.random(2 * MIB, 1);
        BlockMigration handler = source(disk("disk0", "a.raw", content), false);
        BlockStreams.payload(handler::saveSetup);
        byte[] part = BlockStreams.payload(handler::saveIterate);
        byte[] expected = concat(
                Hex.bytes("0000000000000004"),                    // PROGRESS 0
                Hex.bytes("0000000000000001 " + DISK0), chunkOf(content, 0), // DEVICE_BLOCK sector 0
                Hex.bytes("0000000000006404"),                    // PROGRESS 50
                Hex.bytes("0000000000100001 " + DISK0), chunkOf(content, 1), // sector 2048 = byte 0x100000
                Hex.bytes("0000000000000002"));                   // EOS
        GoldenBytes.assertSame(expected, part);
    }

    @Test
    void endPayloadWithNothingDirtyIsProgress100ThenEos() throws IOException {
        BlockMigration handler = source(disk("disk0", "a.raw", BlockStreams.random(MIB, 2)), false);
        BlockStreams.Saved saved = BlockStreams.saveAll(handler);
        // Byte for byte QEMU's END payload: 0xc804 = 100 << 9 | PROGRESS.
        GoldenBytes.assertSame(Hex.bytes("000000000000c804 0000000000000002"), saved.end());
    }

    @Test
    void zeroChunksTravelAsZeroBlockRecordsWithoutData() throws IOException {
        byte[] content = new byte[3 * MIB];
        content[2 * MIB + 5] = 7;
        BlockMigration handler = source(disk("disk0", "a.raw", content), true);
        BlockStreams.payload(handler::saveSetup);
        byte[] part = BlockStreams.payload(handler::saveIterate);
        byte[] expected = concat(
                Hex.bytes("0000000000000004"),
                Hex.bytes("0000000000000009 " + DISK0),           // DEVICE_BLOCK | ZERO_BLOCK, no data
                Hex.bytes("0000000000004204"),                    // PROGRESS 33
                Hex.bytes("0000000000100009 " + DISK0),
                Hex.bytes("0000000000008404"),                    // PROGRESS 66
                Hex.bytes("0000000000200001 " + DISK0), chunkOf(content, 2),
                Hex.bytes("0000000000000002"));
        GoldenBytes.assertSame(expected, part);
        assertEquals(2, handler.stats().zeroChunks.get());
        assertEquals(1, handler.stats().dataChunks.get());
    }

    @Test
    void withoutTheCapabilityZeroChunksCarryTheirMegabyte() throws IOException {
        BlockMigration handler = source(disk("disk0", "a.raw", new byte[MIB]), false);
        BlockStreams.payload(handler::saveSetup);
        byte[] part = BlockStreams.payload(handler::saveIterate);
        assertEquals(8 + (8 + 6 + MIB) + 8, part.length);
        assertEquals(0, handler.stats().zeroChunks.get());
    }

    @Test
    void progressPercentagesAreQemusForAShortLastChunk() throws IOException {
        // QEMU 7.2 sent 0, 18, 36, 54, 72, 90 in the bulk phase and 100 at the end for a 5.5 MiB disk:
        // the percentage counts the chunks before the one being read.
        byte[] content = BlockStreams.random(5 * MIB + MIB / 2, 3);
        BlockStreams.Saved saved = BlockStreams.saveAll(source(disk("disk0", "a.raw", content), false));
        assertEquals(List.of(0L, 18L, 36L, 54L, 72L, 90L), BlockStreams.progress(BlockStreams.records(saved.parts())));
        assertEquals(List.of(100L), BlockStreams.progress(BlockStreams.records(saved.end())));
        // ... and 0, 16, 33, 50, 66, 83 for 6 MiB.
        BlockStreams.Saved six = BlockStreams.saveAll(source(disk("disk1", "b.raw", new byte[6 * MIB]), true));
        assertEquals(List.of(0L, 16L, 33L, 50L, 66L, 83L), BlockStreams.progress(BlockStreams.records(six.parts())));
    }

    @Test
    void aShortLastChunkIsSentAsAWholeMegabytePaddedWithZeros() throws IOException {
        byte[] content = BlockStreams.random(MIB + 4096, 4);
        BlockMigration handler = source(disk("disk0", "a.raw", content), false);
        BlockStreams.payload(handler::saveSetup);
        byte[] part = BlockStreams.payload(handler::saveIterate);
        int header = 8 + 8 + 6;
        int second = header + MIB + 8 + 8 + 6;
        GoldenBytes.assertSame(Hex.bytes("0000000000100001 " + DISK0), Arrays.copyOfRange(part, second - 14, second));
        byte[] data = Arrays.copyOfRange(part, second, second + MIB);
        assertArrayEquals(Arrays.copyOfRange(content, MIB, MIB + 4096), Arrays.copyOf(data, 4096));
        assertArrayEquals(new byte[MIB - 4096], Arrays.copyOfRange(data, 4096, MIB));
        assertEquals(second + MIB + 8, part.length);
    }

    @Test
    void aPayloadCanBeSummarisedWithoutADisk() throws IOException {
        byte[] content = new byte[3 * MIB];
        content[5] = 1;
        BlockMigration handler = source(disk("disk0", "a.raw", content), true);
        BlockStreams.payload(handler::saveSetup);
        byte[] part = BlockStreams.payload(handler::saveIterate);
        BlockPayloadSummary summary = BlockPayloadSummary.read(MigrationInput.of(part));
        assertEquals(Map.of("disk0", 3L), summary.chunks());
        assertEquals(1, summary.dataChunks());
        assertEquals(2, summary.zeroChunks());
        assertEquals(66, summary.progress());
        assertEquals(part.length, summary.bytes());
        Truncation.assertFailsCleanlyWhenCut(part, BlockPayloadSummary::read);
        assertThrows(StreamFormatException.class,
                () -> BlockPayloadSummary.read(MigrationInput.of(Hex.bytes("0000000000000010"))));
    }

    // ---------------------------------------------------------------- loader refusals

    private BlockMigration destination(String id, int size) throws IOException {
        return new BlockMigration(List.of(disk(id, id + "-dst.raw", new byte[size])));
    }

    private static void load(BlockMigration handler, byte[] payload) throws IOException {
        handler.load(MigrationInput.of(payload), SectionType.PART, BlockMigration.VERSION);
    }

    @Test
    void anUnknownDeviceIsRefusedNamingItAndTheRecordOffset() throws IOException {
        BlockMigration handler = source(disk("disk0", "a.raw", BlockStreams.random(MIB, 5)), false);
        BlockStreams.payload(handler::saveSetup);
        byte[] part = BlockStreams.payload(handler::saveIterate);
        BlockMigration other = destination("disk1", MIB);
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> load(other, part));
        assertEquals(8, e.offset(), "the DEVICE_BLOCK record after PROGRESS 0");
        assertTrue(e.getMessage().contains("unknown block device 'disk0'"), e.getMessage());
        assertTrue(e.getMessage().contains("disk1"), "names what this side has: " + e.getMessage());
        assertTrue(e.getMessage().endsWith("at offset 8"), e.getMessage());
    }

    @Test
    void unknownFlagsAreRefused() throws IOException {
        BlockMigration handler = destination("disk0", MIB);
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> load(handler, Hex.bytes("0000000000000004 0000000000000010")));
        assertEquals(8, e.offset());
        assertTrue(e.getMessage().contains("flags 0x10"), e.getMessage());
        StreamFormatException none = assertThrows(StreamFormatException.class,
                () -> load(handler, Hex.bytes("0000000000100000")));
        assertTrue(none.getMessage().contains("flags 0x0"), none.getMessage());
        assertThrows(StreamFormatException.class, () -> load(handler, Hex.bytes("0000000000000008 " + DISK0)),
                "ZERO_BLOCK without DEVICE_BLOCK");
    }

    @Test
    void aChunkBeyondTheDiskIsRefused() throws IOException {
        BlockMigration handler = destination("disk0", MIB);
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> load(handler, Hex.bytes("0000000000100009 " + DISK0 + " 0000000000000002")));
        assertTrue(e.getMessage().contains("beyond the end of disk 'disk0'"), e.getMessage());
        assertEquals(0, e.offset());
    }

    @Test
    void anotherSectionVersionIsRefused() throws IOException {
        BlockMigration handler = destination("disk0", MIB);
        assertThrows(StreamFormatException.class,
                () -> handler.load(MigrationInput.of(Hex.bytes("0000000000000002")), SectionType.START, 2));
    }

    @Test
    void truncatedPayloadsFailCleanly() throws IOException {
        byte[] content = BlockStreams.random(MIB + MIB / 2, 6);
        BlockMigration source = source(disk("disk0", "a.raw", content), false);
        BlockStreams.payload(source::saveSetup);
        byte[] part = BlockStreams.payload(source::saveIterate);
        BlockMigration destination = destination("disk0", content.length);
        Truncation.assertFailsCleanlyWhenCut(part,
                in -> destination.load(in, SectionType.PART, BlockMigration.VERSION));
        Truncation.assertFailsCleanlyWhenCut(Hex.bytes("0000000000000009 " + DISK0 + " 0000000000000002"),
                in -> destination.load(in, SectionType.PART, BlockMigration.VERSION));
    }

    @Test
    void theLoaderWritesOnlyTheBytesOfAShortLastChunkThatAreInsideTheDisk() throws IOException {
        byte[] content = BlockStreams.random(MIB + 512, 7);
        BlockMigration source = source(disk("disk0", "a.raw", content), false);
        BlockStreams.Saved saved = BlockStreams.saveAll(source);
        Disk target = disk("disk0", "b.raw", new byte[content.length]);
        saved.loadInto(new BlockMigration(List.of(target)));
        assertEquals(content.length, Files.size(target.path()), "the image did not grow");
        assertArrayEquals(content, Files.readAllBytes(target.path()));
    }
}
