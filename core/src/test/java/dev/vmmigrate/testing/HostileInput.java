package dev.vmmigrate.testing;

import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.held.HeldVmReceiver;
import dev.vmmigrate.inspect.StreamInspector;
import dev.vmmigrate.migration.MachineStreams;
import dev.vmmigrate.migration.StreamDigestCheck;
import dev.vmmigrate.ram.RamLayoutProbe;
import dev.vmmigrate.savevm.LoadVm;
import dev.vmmigrate.savevm.StreamPreamble;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The fuzzers' and the corpus replay's oracle: feeds one input to what {@code receive} loads
 * with (the built-in guest sized from the stream, or a held VM for another machine type, as
 * ReceiveCommand chooses) and to {@code inspect}, and lets only the documented failure escape,
 * {@link StreamFormatException}: anything else (an IllegalStateException from a mapping, an
 * OutOfMemoryError, an ArithmeticException) is a finding.
 */
public final class HostileInput {
    /** The receiver's RAM ceiling under test: a claim beyond it must be refused, not tried. */
    public static final long MAX_RAM = 64L << 20;

    /** How an input ended: loaded (and, from vm-migrate, verified), refused, or refused by its digest. */
    public enum Outcome { LOADED, REFUSED, DIGEST_MISMATCH }

    private HostileInput() {
    }

    /** Loads {@code data} as receive would. */
    public static Outcome receive(byte[] data) throws IOException {
        try (MigrationInput in = MigrationInput.of(data)) {
            byte[] head = in.peekBytes(RamLayoutProbe.PEEK_BYTES);
            String machine = StreamPreamble.peek(head).map(StreamPreamble::machineType).orElse(null);
            if (machine != null && !machine.equals(Guest.DEFAULT_MACHINE)) {
                HeldVmReceiver held = new HeldVmReceiver(null, null, MAX_RAM);
                try {
                    LoadVm.Result result = held.loadVm().load(in);
                    held.loaded(result, false);
                    held.vm().close();
                    return Outcome.LOADED;
                } finally {
                    held.loadFailed(); // frees whatever the load made (nothing once the VM owns it)
                }
            }
            RamLayoutProbe.requireWithin(head, MAX_RAM, "--max-ram");
            Map<String, Long> layout = RamLayoutProbe.probe(head);
            Guest.Builder builder = Guest.builder().incoming(true).ramSize(4L << 20);
            if (layout.size() == 1) { // as receive with --ram-id naming it
                Map.Entry<String, Long> block = layout.entrySet().iterator().next();
                builder.ramId(block.getKey()).ramSize(block.getValue());
            }
            try (Guest guest = builder.build()) {
                MachineStreams streams = MachineStreams.of(guest, false, new BlockMigration(List.of()));
                LoadVm.Result result = streams.loadVm(guest).load(in);
                return streams.digest().mismatch(result.devices()) == null ? Outcome.LOADED : Outcome.DIGEST_MISMATCH;
            }
        } catch (StreamFormatException refused) {
            requireOneLine(refused);
            return Outcome.REFUSED;
        }
    }

    /** Reads {@code data} as inspect would, its digest check included. */
    public static Outcome inspect(byte[] data, Path dir) throws IOException {
        Path file = Files.createTempFile(dir, "input", ".mig");
        try {
            Files.write(file, data);
            java.util.Set<String> sections = new java.util.HashSet<>();
            new StreamInspector(null, MAX_RAM).inspect(file).sections().forEach(s -> sections.add(s.name()));
            return StreamDigestCheck.check(file, sections, MAX_RAM) instanceof StreamDigestCheck.Verdict.Mismatch
                    ? Outcome.DIGEST_MISMATCH : Outcome.LOADED;
        } catch (StreamFormatException refused) {
            requireOneLine(refused);
            return Outcome.REFUSED;
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** A refusal is one line of printable text naming an offset. */
    private static void requireOneLine(StreamFormatException e) {
        String message = e.getMessage();
        if (!message.contains(" at offset ") || message.chars().anyMatch(c -> c < 0x20 || c > 0x7e)) {
            throw new AssertionError("not one clean line: " + message.replace("\n", "\\n"), e);
        }
    }

    /** For fuzz targets, which take no checked exceptions from the oracle's own I/O. */
    public static Outcome receiveUnchecked(byte[] data) {
        try {
            return receive(data);
        } catch (IOException e) {
            throw new UncheckedIOException("not a StreamFormatException", e);
        }
    }
}
