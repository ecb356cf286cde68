package dev.vmmigrate.savevm;

import dev.vmmigrate.ram.RamFlags;
import dev.vmmigrate.stream.MigrationInput;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads the RAM layout (block ids and lengths) that a stream announces in its first section,
 * from bytes peeked at its start, so a receiver started without {@code --ram} can size its guest
 * from the stream.
 */
public final class RamLayoutProbe {
    /** Enough for the preamble and a START listing hundreds of blocks. */
    public static final int PEEK_BYTES = 64 * 1024;
    private static final String BLOCK_IDSTR = "block";
    private static final long BLOCK_EOS = 0x02;

    private RamLayoutProbe() {
    }

    /** Block id to length in stream order; empty when the stream does not start with a RAM START. */
    public static Map<String, Long> probe(byte[] head) {
        Map<String, Long> blocks = new LinkedHashMap<>();
        try {
            MigrationInput in = MigrationInput.of(head);
            StreamPreamble.read(in);
            if (in.readU8() != SectionType.START.code()) {
                return blocks;
            }
            SectionHeader.Open header = (SectionHeader.Open) SectionHeader.read(in, SectionType.START);
            if (header.idstr().equals(BLOCK_IDSTR)) {
                // Block migration's START comes first (as in QEMU) and is a lone EOS: step over it.
                if (in.readBe64() != BLOCK_EOS) {
                    return blocks;
                }
                SectionHeader.readFooter(in, header.sectionId(), header.idstr());
                if (in.readU8() != SectionType.START.code()) {
                    return blocks;
                }
                header = (SectionHeader.Open) SectionHeader.read(in, SectionType.START);
            }
            if (!header.idstr().equals("ram")) {
                return blocks;
            }
            long word = in.readBe64();
            if ((word & RamFlags.MASK) != RamFlags.MEM_SIZE) {
                return blocks;
            }
            long total = word & ~RamFlags.MASK;
            long seen = 0;
            while (seen < total) {
                String id = in.readCountedString();
                long length = in.readBe64();
                if (length <= 0) {
                    return new LinkedHashMap<>();
                }
                blocks.put(id, length);
                seen += length;
            }
        } catch (IOException e) {
            // Not a stream we can read ahead in: the load itself will report what is wrong.
            return new LinkedHashMap<>();
        }
        return blocks;
    }

}
