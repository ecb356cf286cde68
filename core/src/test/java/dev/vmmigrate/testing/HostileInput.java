package dev.vmmigrate.testing;

import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.held.HeldVmReceiver;
import dev.vmmigrate.inspect.StreamInspector;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.migration.IncomingMigration;
import dev.vmmigrate.migration.MachineStreams;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.multifd.IncomingMultifd;
import dev.vmmigrate.multifd.MultifdInit;
import dev.vmmigrate.ram.CapturedStreams;
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
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

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

    /**
     * The real multifd captures (qemu-streams/multifd, block "mem" of 2 MiB) whose main stream
     * and channel 1 play beside a hostile channel 0: the first byte of a {@link #multifdChannel}
     * input picks one.
     */
    public static final List<String> MULTIFD_CAPTURES = List.of("qemu-7.2", "qemu-10.0", "qemu-7.2-zstd",
            "qemu-10.0-zstd", "qemu-7.2-zlib", "qemu-10.0-zlib");

    /**
     * A hostile multifd channel: {@code data[0]} picks a capture of {@link #MULTIFD_CAPTURES}, the
     * rest is what channel 0 sends after its (captured, valid) handshake; the capture's main
     * stream and channel 1 go with it into an incoming migration as receive runs it. The load
     * must complete, or fail with one clean line naming an offset, from a StreamFormatException
     * or a sync point's refusal, never a RuntimeException or an Error, and a failed load's guest
     * never runs. A stall would be a hang (the bytes always end), so it fails the oracle too.
     */
    public static Outcome multifdChannel(byte[] data) throws IOException {
        String capture = MULTIFD_CAPTURES.get(data.length == 0 ? 0 : (data[0] & 0xff) % MULTIFD_CAPTURES.size());
        byte[] channel0 = CapturedStreams.multifdChannel(capture, 0);
        byte[] hostile = Arrays.copyOf(channel0, MultifdInit.BYTES + Math.max(0, data.length - 1));
        if (data.length > 1) {
            System.arraycopy(data, 1, hostile, MultifdInit.BYTES, data.length - 1);
        }
        List<String> notices = new CopyOnWriteArrayList<>();
        try (Guest guest = Guest.builder().incoming(true).ramId("mem").ramSize(2L << 20).build();
             IncomingMultifd multifd = new IncomingMultifd(2, notices::add)) {
            multifd.stallTimeout(Duration.ofSeconds(10));
            IncomingMigration incoming = MachineStreams.of(guest, false).incoming(guest, true);
            incoming.multifd(multifd);
            multifd.offer(new BytesConnection("channel 0", hostile));
            multifd.offer(new BytesConnection("channel 1", CapturedStreams.multifdChannel(capture, 1)));
            incoming.start(new BytesConnection("main", CapturedStreams.multifdMain(capture)));
            MigrationStatus status = incoming.awaitFinished();
            // A channel whose handshake is read after a quick failure ended the load is refused as late: fine then.
            List<String> refusals = notices.stream()
                    .filter(n -> status != MigrationStatus.FAILED || !n.endsWith(" came after this migration's load ended"))
                    .toList();
            if (!refusals.isEmpty()) {
                throw new AssertionError("the captured handshakes were refused: " + refusals);
            }
            if (status == MigrationStatus.COMPLETED) {
                return Outcome.LOADED;
            }
            if (status != MigrationStatus.FAILED) {
                throw new AssertionError("the load ended " + status);
            }
            requireCleanCauses(incoming.failureCause());
            String error = incoming.error();
            IOException channelFailure = multifd.failure();
            if (channelFailure != null && channelFailure.getMessage().startsWith("stalled: ")) {
                throw new AssertionError("a sync point stalled on bytes that had all arrived: " + error, channelFailure);
            }
            if (!error.contains("offset") || error.chars().anyMatch(c -> c < 0x20 || c > 0x7e)) {
                throw new AssertionError("not one clean line naming an offset: " + error.replace("\n", "\\n"),
                        incoming.failureCause());
            }
            if (guest.runState() == RunState.RUNNING) {
                throw new AssertionError("the guest runs after a failed load: " + error);
            }
            return Outcome.REFUSED;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /** Below the load's own wrapper, every cause is an I/O refusal: a RuntimeException or an Error is a bug. */
    private static void requireCleanCauses(Throwable failure) {
        for (Throwable cause = failure.getCause(); cause != null; cause = cause.getCause()) {
            if (cause instanceof RuntimeException || cause instanceof Error) {
                throw new AssertionError("the load failed on " + cause, failure);
            }
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

    /** {@link #multifdChannel} for a fuzz target. */
    public static Outcome multifdChannelUnchecked(byte[] data) {
        try {
            return multifdChannel(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
