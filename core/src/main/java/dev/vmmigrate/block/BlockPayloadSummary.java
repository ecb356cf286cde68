package dev.vmmigrate.block;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What one {@code block} section payload carries, read without a disk (for {@code inspect}).
 *
 * @param chunks DEVICE_BLOCK records by device name, in stream order: data and zero records alike
 * @param dataChunks records with their 1 MiB of data
 * @param zeroChunks ZERO_BLOCK records
 * @param progress the last PROGRESS percentage, or -1 if none
 * @param bytes the payload's size, EOS included
 */
public record BlockPayloadSummary(Map<String, Long> chunks, long dataChunks, long zeroChunks, int progress,
                                  long bytes) {
    /** Distinct device names a stream may name (inspect counts per name): QEMU migrates a handful of drives. */
    public static final int MAX_DEVICES = 256;

    public BlockPayloadSummary {
        chunks = Map.copyOf(chunks);
    }

    /** Reads one payload up to and including its EOS, skipping the data; refuses what the loader refuses but device names. */
    public static BlockPayloadSummary read(MigrationInput in) throws IOException {
        long start = in.position();
        Map<String, Long> chunks = new LinkedHashMap<>();
        long data = 0;
        long zero = 0;
        int progress = -1;
        while (true) {
            long at = in.position();
            long word = in.readBe64();
            int flags = (int) (word & BlockFlags.FLAG_MASK);
            if ((flags & ~BlockFlags.KNOWN) != 0
                    || (flags & (BlockFlags.DEVICE_BLOCK | BlockFlags.PROGRESS | BlockFlags.EOS)) == 0) {
                throw new StreamFormatException("unknown block migration flags 0x" + Integer.toHexString(flags)
                        + " in a block record", at);
            }
            if ((flags & BlockFlags.DEVICE_BLOCK) != 0) {
                chunks.merge(in.readCountedString(), 1L, Long::sum);
                if (chunks.size() > MAX_DEVICES) {
                    throw new StreamFormatException("block records name more than " + MAX_DEVICES + " devices", at);
                }
                if ((flags & BlockFlags.ZERO_BLOCK) != 0) {
                    zero++;
                } else {
                    in.skip(Disk.CHUNK_SIZE);
                    data++;
                }
            } else if ((flags & BlockFlags.PROGRESS) != 0) {
                progress = (int) Math.min(word >>> BlockFlags.SECTOR_BITS, Integer.MAX_VALUE);
            }
            if ((flags & BlockFlags.EOS) != 0) {
                return new BlockPayloadSummary(chunks, data, zero, progress, in.position() - start);
            }
        }
    }
}
