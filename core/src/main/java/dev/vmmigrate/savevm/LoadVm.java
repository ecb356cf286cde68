package dev.vmmigrate.savevm;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import dev.vmmigrate.stream.TruncatedStreamException;
import dev.vmmigrate.vmstate.FieldValues;
import dev.vmmigrate.vmstate.VmStateCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Reads a stream into a machine's handlers (savevm.c's qemu_loadvm_state): checks the preamble
 * and machine type, dispatches every section to its handler by id string and instance, checks
 * every footer, and stops at EOF, reading the vmdesc if one follows.
 *
 * <p>Device state is applied only after the whole stream has been read and checked, so a stream
 * that fails half way leaves no device half loaded; a switch to postcopy (PACKAGED) is the one
 * exception, since the guest runs before its RAM is whole. RAM is written as it arrives; the
 * caller must not resume a guest whose load failed.
 *
 * <p>A loader for a VM it cannot describe ({@link #keepingUnknownDevices}) accepts any machine
 * type and keeps each device section without a handler as bytes ({@link DeviceSection}).
 */
public final class LoadVm {
    /** The largest PACKAGED blob, QEMU's MAX_VM_CMD_PACKAGED_SIZE (savevm.h): 16 MiB. */
    public static final int MAX_PACKAGED = 1 << 24;

    private final HandlerRegistry registry;
    /** The machine type the stream must name, or null for any. */
    private final String machineType;
    private final boolean keepUnknownDevices;
    private final Completeness completeness;
    /** Told once when RAM is final in a precopy load: see {@link #whenRamIsFinal}. */
    private final Consumer<Set<String>> ramFinal;

    /**
     * What a whole stream must have carried (every RAM block and device of the guest, the digest
     * when the source is vm-migrate), checked at EOF before any device state is applied: QEMU
     * leaves a device it got no section for at its reset state, which for a guest that was
     * running is a guest half received.
     */
    @FunctionalInterface
    public interface Completeness {
        /**
         * @param sections the id strings of every section seen
         * @param postcopy the stream switched to postcopy (PACKAGED): its guest ran before the end
         * @param eofOffset where the EOF section is, for the error
         */
        void check(Set<String> sections, boolean postcopy, long eofOffset) throws StreamFormatException;
    }

    /** A loader for a machine of {@code machineType} whose every section has a handler. */
    public LoadVm(HandlerRegistry registry, String machineType) {
        this(registry, machineType, false, (sections, postcopy, at) -> { }, seen -> { });
    }

    private LoadVm(HandlerRegistry registry, String machineType, boolean keepUnknownDevices,
                   Completeness completeness, Consumer<Set<String>> ramFinal) {
        this.registry = registry;
        this.machineType = machineType;
        this.keepUnknownDevices = keepUnknownDevices;
        this.completeness = completeness;
        this.ramFinal = ramFinal;
    }

    /** This loader, also refusing a stream that fails {@code check} at its EOF. */
    public LoadVm requiring(Completeness check) {
        Completeness before = completeness;
        return new LoadVm(registry, machineType, keepUnknownDevices, (sections, postcopy, at) -> {
            before.check(sections, postcopy, at);
            check.check(sections, postcopy, at);
        }, ramFinal);
    }

    /**
     * This loader, also telling {@code action} when RAM is final: at the first device (FULL)
     * section after an END, in a stream that did not switch to postcopy; once, on the loading
     * thread, after the actions given before, with the id strings of the sections seen so far.
     * The source sends every iterative section's END, with the last pages, before the devices
     * (QEMU's qemu_savevm_state_complete_precopy), so from there on nothing the load does writes
     * RAM, and whatever reads it (the digest) can start beside the device sections.
     */
    public LoadVm whenRamIsFinal(Consumer<Set<String>> action) {
        return new LoadVm(registry, machineType, keepUnknownDevices, completeness, ramFinal.andThen(action));
    }

    /**
     * A loader that keeps the device sections its handlers do not know as bytes.
     *
     * @param machineType the machine type the stream must name, or null for any
     */
    public static LoadVm keepingUnknownDevices(HandlerRegistry registry, String machineType) {
        return new LoadVm(registry, machineType, true, (sections, postcopy, at) -> { }, seen -> { });
    }

    /**
     * What a load found besides the state it applied.
     *
     * @param sections the id strings of every section seen
     * @param devices the state loaded for each described device section, by id string, in stream order
     * @param deviceSections every device section in stream order, as bytes (described ones
     *     encoded again from their state); empty unless the loader keeps unknown devices
     * @param vmdesc the vmdesc JSON, or null
     */
    public record Result(StreamPreamble preamble, Set<String> sections, Map<String, FieldValues> devices,
                         List<DeviceSection> deviceSections, byte[] vmdesc) {
    }

    /**
     * What a load tells the migration it belongs to as it goes: the commands that need more than
     * the loader (the return path, QEMU's postcopy advice) and which sections arrived.
     */
    public interface Listener {
        /** A COMMAND section; the default accepts SWITCHOVER_START and refuses the rest by name. */
        default void command(Section.Command command) throws IOException {
            refuseUnlessSwitchover(command);
        }

        /** A START or FULL section's header, before its payload. */
        default void section(SectionHeader.Open header) {
        }

        /**
         * The link broke while RAM was iterating (after the setup), or in the switchover while its
         * last pages came (the END sections, before the device state), or after the switch to
         * postcopy (its package loaded, before the EOF).
         * Returns the input of a new connection whose source goes on from here, or throws; the
         * default throws {@code cause}, as a load that cannot resume.
         *
         * @param wholeUpTo the stream offset up to which every section was read whole
         */
        default MigrationInput linkBroken(IOException cause, long wholeUpTo) throws IOException {
            throw cause;
        }
    }

    /** The default answer to a command: SWITCHOVER_START needs nothing, the rest are refused by name. */
    public static void refuseUnlessSwitchover(Section.Command command) throws StreamFormatException {
        if (command.command().refusal() != null) {
            throw new StreamFormatException(command.command().refusal() + " (COMMAND " + command.command() + ")",
                    command.offset());
        }
    }

    /** The handlers this loader loads into. */
    public HandlerRegistry registry() {
        return registry;
    }

    /** By RAM block, the pages loaded so far (for a resumed migration's RECV_BITMAP). */
    public Map<String, long[]> receivedPages() {
        Map<String, long[]> pages = new LinkedHashMap<>();
        registry.iterative().forEach(handler -> pages.putAll(handler.receivedPages()));
        return pages;
    }

    /** RAM bytes the stream announced so far, for progress (read while the load runs). */
    public long announcedRamBytes() {
        return registry.iterative().stream().mapToLong(IterativeHandler::announcedRamBytes).sum();
    }

    /** RAM pages loaded so far, for progress (read while the load runs). */
    public long loadedPages() {
        return registry.iterative().stream().mapToLong(IterativeHandler::loadedPages).sum();
    }

    public Result load(MigrationInput in) throws IOException {
        return load(in, new Listener() { });
    }

    public Result load(MigrationInput in, Listener listener) throws IOException {
        try {
            return loadSections(new SectionReader(in), listener);
        } finally {
            // What the handlers held for the load (decompression contexts) goes, success or not.
            registry.iterative().forEach(IterativeHandler::cleanup);
        }
    }

    private Result loadSections(SectionReader reader, Listener listener) throws IOException {
        StreamPreamble preamble = reader.preamble();
        if (machineType != null && !preamble.machineType().equals(machineType)) {
            throw new StreamFormatException("stream is for machine type " + StreamText.quote(preamble.machineType())
                    + ", this guest is '" + machineType + "'", StreamPreamble.MACHINE_NAME_OFFSET);
        }
        Loaded loaded = new Loaded();
        boolean iterating = false; // a START was read whole and no END came yet
        // END sections are being read: the source's guest stopped, its last pages come (QEMU's
        // qemu_savevm_state_complete_precopy_iterable); nothing is applied from them but pages,
        // which a resumed source sends again, so a break here resumes too
        boolean lastPages = false;
        boolean postcopyRunning = false; // POSTCOPY_RUN came: the rest of RAM comes while the guest runs
        boolean ended = false; // an END was loaded: the switchover began
        boolean ramFinalTold = false;
        long wholeUpTo = reader.input().position();
        while (true) {
            Section section;
            try {
                section = reader.next();
                if (section instanceof Section.End || section instanceof Section.Command command
                        && command.command() == MigrationCommand.PACKAGED) {
                    iterating = false; // the switchover (or postcopy) began
                }
                // From the device state on (or postcopy's package), a break fails the load.
                lastPages = section instanceof Section.End;
                if (section instanceof Section.Eof eof) {
                    completeness.check(Set.copyOf(loaded.seen), loaded.postcopy, eof.offset());
                    applyDevices(loaded);
                    Map<String, FieldValues> devices = new LinkedHashMap<>();
                    loaded.devices.forEach((device, state) -> devices.put(device.idstr(), state.values()));
                    return new Result(preamble, Set.copyOf(loaded.seen), devices, List.copyOf(loaded.deviceSections),
                            eof.vmdesc());
                }
                if (section instanceof Section.Full && ended && !loaded.postcopy && !ramFinalTold) {
                    ramFinalTold = true;
                    ramFinal.accept(Set.copyOf(loaded.seen));
                }
                loadPayload(section, reader, listener, loaded);
                reader.finish(section);
            } catch (IOException e) {
                if (!(iterating || lastPages || postcopyRunning) || !linkFailure(e)) {
                    throw e;
                }
                reader.resume(listener.linkBroken(e, wholeUpTo));
                continue;
            }
            wholeUpTo = reader.input().position();
            iterating |= section instanceof Section.Start;
            ended |= section instanceof Section.End;
            postcopyRunning |= section instanceof Section.Command command
                    && command.command() == MigrationCommand.PACKAGED;
        }
    }

    /** What the load found so far: device state (applied at EOF), sections kept as bytes, id strings seen. */
    private static final class Loaded {
        final Map<DeviceHandler, LoadedDevice> devices = new LinkedHashMap<>();
        final List<DeviceSection> deviceSections = new ArrayList<>();
        final Set<String> seen = new HashSet<>();
        /** A PACKAGED came: the stream switched to postcopy. */
        boolean postcopy;
        /** Devices applied already: at POSTCOPY_RUN, before the EOF. */
        final Set<DeviceHandler> applied = new HashSet<>();
    }

    /** A transport failure or a stream that ended early, not bytes that break the format. */
    private static boolean linkFailure(IOException e) {
        return !(e instanceof StreamFormatException) || e instanceof TruncatedStreamException;
    }

    /** Reads the payload of a section other than EOF into its handler. */
    private void loadPayload(Section section, SectionReader reader, Listener listener, Loaded loaded)
            throws IOException {
        MigrationInput in = reader.input();
        switch (section) {
            case Section.Start start -> {
                SectionHeader.Open header = start.header();
                listener.section(header);
                loaded.seen.add(header.idstr());
                IterativeHandler handler = registry.findIterative(header.idstr(), header.instanceId());
                if (handler == null) {
                    throw unknown(header, start.offset());
                }
                checkVersion(header, handler.version(), start.offset());
                handler.load(in, SectionType.START, header.version());
            }
            case Section.Part part -> iterativeFor(part.opener()).load(in, SectionType.PART, part.opener().version());
            case Section.End end -> iterativeFor(end.opener()).load(in, SectionType.END, end.opener().version());
            case Section.Full full -> {
                SectionHeader.Open header = full.header();
                listener.section(header);
                loaded.seen.add(header.idstr());
                DeviceHandler device = registry.findDevice(header.idstr(), header.instanceId());
                if (device != null) {
                    checkVersion(header, device.version(), full.offset());
                    LoadedDevice state = new LoadedDevice(
                            VmStateCodec.load(in, device.description(), header.version()), full.offset());
                    loaded.devices.put(device, state);
                    if (device.earlySetup()) {
                        apply(device, state); // the rest of the stream depends on it
                    }
                    if (keepUnknownDevices) {
                        loaded.deviceSections.add(new DeviceSection(header,
                                VmStateCodec.encode(device.description(), state.values())));
                    }
                } else if (keepUnknownDevices) {
                    loaded.deviceSections.add(new DeviceSection(header, reader.readOpaquePayload(full)));
                } else {
                    throw unknown(header, full.offset());
                }
            }
            case Section.Command command when command.command() == MigrationCommand.PACKAGED -> {
                listener.command(command); // refused where postcopy is not taken
                loadPackage(command, reader, listener, loaded);
            }
            case Section.Command command -> listener.command(command);
            case Section.Eof eof -> throw new IllegalStateException("EOF has no payload to load");
        }
    }

    /**
     * QEMU's PACKAGED (loadvm_handle_cmd_packaged): the switch to postcopy sends the device state
     * as one blob (be32 length, at most {@link #MAX_PACKAGED} bytes) so the destination can read it
     * whole while pages still come: POSTCOPY_LISTEN, the devices, PINGs, then POSTCOPY_RUN, which
     * ends the package (LOADVM_QUIT). The devices are applied before RUN lets the guest run; the
     * main stream goes on with RAM until its EOF. Offsets stay those of the stream.
     */
    private void loadPackage(Section.Command command, SectionReader reader, Listener listener, Loaded loaded)
            throws IOException {
        long length = ByteBuffer.wrap(command.payload()).getInt() & 0xffffffffL;
        if (length > MAX_PACKAGED) {
            throw new StreamFormatException("PACKAGED of " + length + " bytes, more than QEMU's limit of "
                    + MAX_PACKAGED + " (MAX_VM_CMD_PACKAGED_SIZE)", command.offset());
        }
        reader.postcopy();
        loaded.postcopy = true;
        MigrationInput main = reader.input();
        long start = main.position();
        MigrationInput blob = MigrationInput.of(main.readBytes((int) length));
        blob.rebase(start);
        reader.resume(blob);
        while (true) {
            Section section;
            try {
                section = reader.next();
            } catch (TruncatedStreamException e) {
                throw new StreamFormatException("PACKAGED of " + length + " bytes ended without POSTCOPY_RUN",
                        command.offset());
            }
            switch (section) {
                case Section.Eof eof -> throw new StreamFormatException("EOF inside PACKAGED", eof.offset());
                case Section.Command nested when nested.command() == MigrationCommand.PACKAGED ->
                        throw new StreamFormatException("PACKAGED inside PACKAGED", nested.offset());
                case Section.Command run when run.command() == MigrationCommand.POSTCOPY_RUN -> {
                    applyDevices(loaded); // the guest may run from here
                    listener.command(run);
                    reader.resume(main); // a failed package fails the load: only RUN goes back to the stream
                    return;
                }
                default -> {
                    loadPayload(section, reader, listener, loaded);
                    reader.finish(section);
                }
            }
        }
    }

    private IterativeHandler iterativeFor(SectionHeader.Open opener) {
        // The START was dispatched to a handler, or the load stopped there.
        return registry.findIterative(opener.idstr(), opener.instanceId());
    }

    private static StreamFormatException unknown(SectionHeader.Open header, long at) {
        return new StreamFormatException("unknown section " + StreamText.quote(header.idstr()) + " instance "
                + header.instanceId() + " (" + header.type() + "): this guest has no such device", at);
    }

    private static void checkVersion(SectionHeader.Open header, int ours, long at) throws StreamFormatException {
        if (header.version() > ours) {
            throw new StreamFormatException("section " + StreamText.quote(header.idstr()) + " has version "
                    + header.version() + ", this side loads up to " + ours, at);
        }
    }

    private record LoadedDevice(FieldValues values, long offset) {
    }

    /** Applies each device loaded and not applied yet (early-setup ones were, as they arrived). */
    private static void applyDevices(Loaded loaded) throws StreamFormatException {
        for (Map.Entry<DeviceHandler, LoadedDevice> entry : loaded.devices.entrySet()) {
            if (!entry.getKey().earlySetup() && loaded.applied.add(entry.getKey())) {
                apply(entry.getKey(), entry.getValue());
            }
        }
    }

    private static void apply(DeviceHandler device, LoadedDevice loaded) throws StreamFormatException {
        try {
            device.loader().accept(loaded.values());
        } catch (IllegalArgumentException e) {
            throw new StreamFormatException("device '" + device.idstr() + "' refused its state: "
                    + e.getMessage() + ", section", loaded.offset());
        }
    }
}
