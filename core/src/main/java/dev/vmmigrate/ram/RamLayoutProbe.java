package dev.vmmigrate.ram;

import dev.vmmigrate.savevm.Section;
import dev.vmmigrate.savevm.SectionReader;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads the RAM layout (block ids and lengths) that a stream announces in its {@code ram} START
 * section, from bytes peeked at its start, so a receiver can size its guest from the stream.
 */
public final class RamLayoutProbe {
    /** Enough for the preamble and a START listing hundreds of blocks. */
    public static final int PEEK_BYTES = MigrationInput.MAX_PEEK;
    /** Block migration's START payload: a lone EOS (QEMU registers "block" before "ram"). */
    private static final long BLOCK_EOS = 0x02;

    private RamLayoutProbe() {
    }

    /** Block id to length in stream order; empty when the head holds no readable RAM START. */
    public static Map<String, Long> probe(byte[] head) {
        try {
            return read(head);
        } catch (IOException e) {
            // Not a stream we can read ahead in: the load itself will report what is wrong.
            return new LinkedHashMap<>();
        }
    }

    /**
     * Refuses a stream whose RAM START announces more than {@code maxBytes} in all (MEM_SIZE), or
     * a block whose length is not a whole number of pages within that total, so a receiver that
     * sizes its guest from the stream never maps the claim; a head that does not read that far
     * passes (the load checks the rest).
     */
    public static void requireWithin(byte[] head, long maxBytes, String limitName) throws StreamFormatException {
        try {
            read(head, maxBytes, limitName);
        } catch (Refused e) {
            throw e.refusal;
        } catch (IOException e) {
            // not readable this far: the load itself reports it
        }
    }

    /** Whether {@code head} reads to the end of its RAM layout (or to where the stream says it has none). */
    public static boolean complete(byte[] head) {
        return whyNoLayout(head).isEmpty();
    }

    /**
     * Why {@code head}, a whole stream shorter than {@link #PEEK_BYTES}, announces no RAM: the
     * stream's own error (cut short, not a stream), for a receiver that needed the size from it.
     */
    public static java.util.Optional<String> whyNoLayout(byte[] head) {
        try {
            read(head);
            return java.util.Optional.empty();
        } catch (IOException e) {
            return java.util.Optional.of(e.getMessage() != null ? e.getMessage() : e.toString());
        }
    }

    /** A claim a receiver must not size itself by, told apart from a head that is merely short. */
    private static final class Refused extends IOException {
        final StreamFormatException refusal;

        Refused(StreamFormatException refusal) {
            super(refusal.getMessage());
            this.refusal = refusal;
        }
    }

    private static Map<String, Long> read(byte[] head) throws IOException {
        return read(head, Long.MAX_VALUE, null);
    }

    private static Map<String, Long> read(byte[] head, long maxBytes, String limitName) throws IOException {
        Map<String, Long> blocks = new LinkedHashMap<>();
        SectionReader reader = new SectionReader(MigrationInput.of(head));
        MigrationInput in = reader.input();
        while (true) {
            Section next = reader.next();
            if (next instanceof Section.Command) {
                continue; // the return path's commands come before the first START
            }
            if (!(next instanceof Section.Start start)) {
                return blocks;
            }
            switch (start.header().idstr()) {
                case RamHandler.IDSTR -> {
                    readBlockList(in, blocks, maxBytes, limitName);
                    return blocks;
                }
                case "block" -> {
                    if (in.readBe64() != BLOCK_EOS) {
                        return blocks;
                    }
                    reader.finish(start);
                }
                default -> {
                    return blocks;
                }
            }
        }
    }

    private static void readBlockList(MigrationInput in, Map<String, Long> blocks, long maxBytes, String limitName)
            throws IOException {
        long at = in.position();
        long word = in.readBe64();
        if ((word & RamFlags.MASK) != RamFlags.MEM_SIZE) {
            return;
        }
        long total = word & ~RamFlags.MASK;
        if (Long.compareUnsigned(total, maxBytes) > 0) {
            throw new Refused(new StreamFormatException("the stream announces " + Long.toUnsignedString(total)
                    + " bytes of RAM (MEM_SIZE), more than the " + maxBytes + " bytes this receiver takes ("
                    + limitName + ")", at));
        }
        long seen = 0;
        while (seen < total) {
            long blockAt = in.position();
            String id = in.readCountedString();
            long length = in.readBe64();
            if (length <= 0 || length % TargetPage.SIZE != 0 || length > total - seen) {
                // RamReceiver refuses the same at the same offset: no guest is sized by it first
                throw new Refused(new StreamFormatException("RAM block " + StreamText.quote(id)
                        + " announced with bad length " + Long.toUnsignedString(length) + " (total " + total + ")",
                        blockAt));
            }
            blocks.put(id, length);
            seen += length;
        }
    }
}
