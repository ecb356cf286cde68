package dev.vmmigrate.block;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The loading half of QEMU's block.c (block_load): reads records until EOS, finds each chunk's
 * disk by device name, and writes the chunk (or zeros) into it. Of a disk's short last chunk only
 * the bytes inside the disk are written; the rest of the 1 MiB on the wire is read and dropped.
 * Zeros are written only where the disk is not zero already, so a sparse image stays sparse.
 */
final class BlockReceiver {
    private final Map<String, Disk> disks = new LinkedHashMap<>();
    private final BlockStats stats;
    private final ByteBuffer chunk = ByteBuffer.allocateDirect(Disk.CHUNK_SIZE);
    private final MemorySegment chunkSegment = MemorySegment.ofBuffer(chunk);
    private final ByteBuffer existing = ByteBuffer.allocateDirect(Disk.CHUNK_SIZE);
    private final MemorySegment zeros = MemorySegment.ofBuffer(ByteBuffer.allocateDirect(Disk.CHUNK_SIZE));

    BlockReceiver(List<Disk> disks, BlockStats stats) {
        for (Disk disk : disks) {
            this.disks.put(disk.id(), disk);
        }
        this.stats = stats;
    }

    /** Reads one section payload, up to and including its EOS. */
    void load(MigrationInput in) throws IOException {
        while (true) {
            long at = in.position();
            long word = in.readBe64();
            int flags = (int) (word & BlockFlags.FLAG_MASK);
            long sector = word >>> BlockFlags.SECTOR_BITS;
            if ((flags & ~BlockFlags.KNOWN) != 0) {
                throw unknownFlags(flags, at);
            }
            if ((flags & BlockFlags.DEVICE_BLOCK) != 0) {
                loadChunk(in, sector, (flags & BlockFlags.ZERO_BLOCK) != 0, at);
            } else if ((flags & BlockFlags.PROGRESS) != 0) {
                stats.progress.set((int) Math.min(sector, Integer.MAX_VALUE));
            } else if ((flags & BlockFlags.EOS) == 0) {
                throw unknownFlags(flags, at);
            }
            if ((flags & BlockFlags.EOS) != 0) {
                return;
            }
        }
    }

    private static StreamFormatException unknownFlags(int flags, long at) {
        return new StreamFormatException("unknown block migration flags 0x" + Integer.toHexString(flags)
                + " in a block record", at);
    }

    private void loadChunk(MigrationInput in, long sector, boolean zero, long at) throws IOException {
        String name = in.readCountedString();
        Disk disk = disks.get(name);
        if (disk == null) {
            throw new StreamFormatException("unknown block device " + StreamText.quote(name) + " (this side has "
                    + (disks.isEmpty() ? "no disk" : String.join(", ", disks.keySet())) + ")", at);
        }
        long offset = sector << BlockFlags.SECTOR_BITS;
        if (offset >= disk.length()) {
            throw new StreamFormatException("block chunk at byte " + offset + " is beyond the end of disk '"
                    + name + "' (" + disk.length() + " bytes)", at);
        }
        int length = (int) Math.min(Disk.CHUNK_SIZE, disk.length() - offset);
        if (zero) {
            writeZeroes(disk, offset, length);
            stats.loadedZeroChunks.incrementAndGet();
            return;
        }
        in.readInto(chunkSegment, 0, Disk.CHUNK_SIZE);
        if (chunkSegment.asSlice(0, length).mismatch(zeros.asSlice(0, length)) < 0) {
            writeZeroes(disk, offset, length);
        } else {
            disk.writeUntracked(offset, chunk.clear().limit(length));
        }
        stats.loadedChunks.incrementAndGet();
    }

    /** Zeros {@code length} bytes at {@code offset} unless they are zero already. */
    private void writeZeroes(Disk disk, long offset, int length) throws IOException {
        existing.clear().limit(length);
        disk.read(offset, existing);
        if (MemorySegment.ofBuffer(existing.flip()).mismatch(zeros.asSlice(0, length)) < 0) {
            return;
        }
        disk.writeUntracked(offset, zeros.asByteBuffer().limit(length));
    }

    /** Flushes every disk to stable storage. */
    void force() throws IOException {
        for (Disk disk : disks.values()) {
            disk.force();
        }
    }
}
