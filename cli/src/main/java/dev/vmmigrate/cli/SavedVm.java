package dev.vmmigrate.cli;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.held.HeldVm;
import dev.vmmigrate.held.HeldVmReceiver;
import dev.vmmigrate.migration.MachineStreams;
import dev.vmmigrate.ram.RamLayoutProbe;
import dev.vmmigrate.savevm.StreamPreamble;
import dev.vmmigrate.stream.MigrationInput;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/** A stream file given to {@code send --load}: a built-in guest to run again, or a VM to send as it is. */
final class SavedVm {
    private final Path file;
    private final StreamPreamble preamble;
    private final Map<String, Long> layout;
    private boolean ownSections;
    private boolean ran;

    private SavedVm(Path file, StreamPreamble preamble, Map<String, Long> layout) {
        this.file = file;
        this.preamble = preamble;
        this.layout = layout;
    }

    /** Reads the file's preamble and RAM layout; bad input is a usage error (exit 2). */
    static SavedVm open(Path file) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
             MigrationInput in = new MigrationInput(channel)) {
            byte[] head = in.peekBytes(RamLayoutProbe.PEEK_BYTES);
            StreamPreamble preamble = StreamPreamble.read(MigrationInput.of(head));
            return new SavedVm(file, preamble, RamLayoutProbe.probe(head));
        } catch (IOException e) {
            throw new CliFailure(ExitCode.USAGE, "--load " + file + ": " + e.getMessage(), e);
        }
    }

    String machineType() {
        return preamble.machineType();
    }

    /** Loads a machine none file into a new built-in guest (stopped); its RAM block as the file names it. */
    Guest loadGuest(GuestOptions options) {
        if (options.ram != null || options.ramFile != null || options.disk != null) {
            throw new CliFailure(ExitCode.USAGE, "--ram, --ram-file and --disk do not go with --load: "
                    + "the guest's RAM comes from " + file);
        }
        if (layout.size() != 1) {
            throw new CliFailure(ExitCode.USAGE, "--load " + file + ": a machine none guest has one RAM block, the "
                    + "file has " + layout.size());
        }
        Map.Entry<String, Long> block = layout.entrySet().iterator().next();
        Guest guest = Guest.builder().ramId(block.getKey()).ramSize(block.getValue()).incoming(true)
                .workload(options.workload).seed(options.seed).build();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
             MigrationInput in = new MigrationInput(channel)) {
            MachineStreams streams = MachineStreams.of(guest, false);
            String mismatch = streams.digest().mismatch(streams.loadVm(guest).load(in).devices());
            if (mismatch != null) {
                guest.close();
                throw new CliFailure(ExitCode.VERIFICATION, "--load " + file + ": verification failed: " + mismatch);
            }
            ownSections = streams.digest().received();
            ran = guest.globalState().runState() == RunState.RUNNING;
            guest.stop(RunState.PAUSED);
            return guest;
        } catch (IOException | IllegalArgumentException | java.io.UncheckedIOException e) {
            guest.close();
            throw new CliFailure(ExitCode.USAGE, "--load " + file + ": " + e.getMessage(), e);
        }
    }

    /** Whether the loaded guest came with vm-migrate's own sections (else it goes back out as QEMU's). */
    boolean carriesOwnSections() {
        return ownSections;
    }

    /** Whether the guest was running when it was saved (globalstate). */
    boolean ranAtSource() {
        return ran;
    }

    /** Loads a VM of another machine type, held as it is. */
    HeldVm loadHeld() {
        HeldVmReceiver target = new HeldVmReceiver(null, null);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
             MigrationInput in = new MigrationInput(channel)) {
            target.loaded(target.loadVm().load(in), false);
            return target.vm();
        } catch (IOException | RuntimeException e) {
            target.loadFailed();
            throw new CliFailure(ExitCode.USAGE, "--load " + file + ": " + e.getMessage(), e);
        }
    }
}
