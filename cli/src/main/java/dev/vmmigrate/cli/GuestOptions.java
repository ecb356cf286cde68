package dev.vmmigrate.cli;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.WorkloadSpec;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The built-in guest's options, shared by send and receive. */
final class GuestOptions {
    @Option(names = "--ram", paramLabel = "SIZE", converter = UnitConverters.Size.class,
            description = "Guest RAM size (K/M/G/T, powers of two). Send: default 64M, or the size of --ram-file. "
                    + "Receive: default the size the stream announces.")
    Long ram;

    @Option(names = "--ram-file", paramLabel = "FILE",
            description = "Map this file shared as guest RAM: the file is the guest's memory. "
                    + "Created (sparse) when missing. Receive: loaded into a sibling .FILE.partial, renamed over "
                    + "FILE once verified (a failed receive leaves FILE as it was, or absent).")
    Path ramFile;

    @Option(names = "--ram-id", paramLabel = "ID", defaultValue = Guest.DEFAULT_RAM_ID,
            description = "Name of the RAM block in the stream (default: ${DEFAULT-VALUE}; QEMU names a "
                    + "memory-backend's block after its id, e.g. mem).")
    String ramId;

    @Option(names = "--machine", paramLabel = "TYPE",
            description = "Machine type. Send: written to the stream; only none (the default) unless the VM comes "
                    + "from --load. Receive: the type the stream must have (default: whatever it has; none is "
                    + "the built-in guest, any other type is held stopped).")
    String machine;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "1",
            description = "Seed of the workload (and of send's --fill). Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--workload", paramLabel = "SPEC", defaultValue = "none",
            converter = WorkloadConverter.class,
            description = "What the guest does while it runs: none, random:RATE, sweep:RATE, "
                    + "hotset:RATE[:PERCENT] (e.g. random:64M/s). Default: ${DEFAULT-VALUE}.")
    WorkloadSpec workload;

    @Option(names = "--disk", paramLabel = "IMAGE",
            description = "Give the guest a disk: this existing raw image, named disk0 on the wire. The running "
                    + "guest's workload writes to it. Send: migrated with --copy-storage. Receive: written from "
                    + "the stream.")
    Path disk;

    /** A builder with these options; the caller adds what is specific to its side. */
    Guest.Builder builder() {
        Guest.Builder builder = Guest.builder().machine(machine != null ? machine : Guest.DEFAULT_MACHINE)
                .ramId(ramId).seed(seed).workload(workload);
        if (ramFile != null) {
            builder.ramFile(ramFile);
        }
        if (ram != null) {
            builder.ramSize(ram);
        }
        if (disk != null) {
            builder.disk(disk);
        }
        return builder;
    }

    /** picocli adapter for {@link WorkloadSpec#parse}. */
    static final class WorkloadConverter implements picocli.CommandLine.ITypeConverter<WorkloadSpec> {
        @Override
        public WorkloadSpec convert(String value) {
            try {
                return WorkloadSpec.parse(value);
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }
}
