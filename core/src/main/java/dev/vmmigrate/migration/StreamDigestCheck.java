package dev.vmmigrate.migration;

import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.ram.RamLayoutProbe;
import dev.vmmigrate.savevm.LoadVm;
import dev.vmmigrate.savevm.StreamPreamble;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

/**
 * Checks a stream file's {@code vm-migrate/digest} as {@code receive} does, for {@code inspect}:
 * loads it with the receiver's own loader into a scratch guest sized from the stream (untouched
 * pages cost nothing) and compares what was loaded with the digest the source sent.
 */
public final class StreamDigestCheck {
    private StreamDigestCheck() {
    }

    /** What the check found. */
    public sealed interface Verdict {
        /** The digest matches what the stream loads to. */
        record Verified() implements Verdict {
        }

        /** The digest differs: {@code what} says where (RAM or device state). */
        record Mismatch(String what) implements Verdict {
        }

        /** The stream carries no digest (QEMU's, or vm-migrate's with --compat qemu). */
        record Absent() implements Verdict {
        }

        /** The stream cannot be loaded into the built-in guest, so the digest was not checked. */
        record NotChecked(String why) implements Verdict {
        }
    }

    /**
     * @param sections the id strings of the stream's sections (inspect read them already)
     * @param maxRamBytes the most RAM the scratch guest may take: a larger claim is refused
     * @throws StreamFormatException when the receiver's loader refuses the stream
     */
    public static Verdict check(Path file, java.util.Set<String> sections, long maxRamBytes) throws IOException {
        if (!sections.contains(dev.vmmigrate.ownsections.IntegrityDigest.IDSTR)) {
            return new Verdict.Absent();
        }
        if (sections.contains(BlockMigration.IDSTR)) {
            return new Verdict.NotChecked("the stream migrates a disk, which inspect does not load");
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
             MigrationInput in = new MigrationInput(channel)) {
            byte[] head = in.peekBytes(RamLayoutProbe.PEEK_BYTES);
            String machine = StreamPreamble.peek(head).map(StreamPreamble::machineType).orElse(null);
            if (!Guest.DEFAULT_MACHINE.equals(machine)) {
                return new Verdict.NotChecked("only streams of the built-in machine none are loaded here");
            }
            RamLayoutProbe.requireWithin(head, maxRamBytes, "--max-ram");
            Map<String, Long> layout = RamLayoutProbe.probe(head);
            if (layout.size() != 1) {
                return new Verdict.NotChecked("the built-in guest has one RAM block, the stream announces "
                        + layout.size());
            }
            Map.Entry<String, Long> block = layout.entrySet().iterator().next();
            try (Guest guest = Guest.builder().incoming(true).ramId(block.getKey()).ramSize(block.getValue()).build()) {
                MachineStreams streams = MachineStreams.of(guest, false, new BlockMigration(List.of()));
                LoadVm.Result result = streams.loadVm(guest).load(in);
                String mismatch = streams.digest().mismatch(result.devices());
                return mismatch == null ? new Verdict.Verified() : new Verdict.Mismatch(mismatch);
            }
        }
    }
}
