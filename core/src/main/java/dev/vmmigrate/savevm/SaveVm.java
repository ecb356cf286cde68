package dev.vmmigrate.savevm;

import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.vmstate.FieldValues;
import dev.vmmigrate.vmstate.VmDesc;
import dev.vmmigrate.vmstate.VmStateCodec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes a machine's stream in QEMU's section framing (savevm.c's qemu_savevm_state_*): the
 * preamble and one START per iterative handler at setup, PART sections while iterating, then END
 * sections, one FULL section per device, EOF and the vmdesc JSON at completion.
 */
public final class SaveVm {
    private final HandlerRegistry registry;
    private final StreamPreamble preamble;
    private final List<IterativeHandler> iterative;
    private final List<DeviceHandler> devices;
    /** The vmdesc entries of the devices saved so far, in stream order. */
    private final List<VmDesc.DeviceEntry> described = new ArrayList<>();
    /** How many of {@link #described} setup sent; -1 before the first complete. A repeated complete starts from them. */
    private int describedAtSetup = -1;

    public SaveVm(HandlerRegistry registry, StreamPreamble preamble) {
        this.registry = registry;
        this.preamble = preamble;
        this.iterative = registry.iterative();
        this.devices = registry.devices();
    }

    /**
     * Section ids follow registration order, iterative handlers first, from 1: QEMU's loader
     * hands a PART or END to the first handler whose last loaded section id matches, and that is
     * 0 for every handler not loaded yet, so an iterative section with id 0 would go astray.
     */
    private int sectionId(IterativeHandler handler) {
        return 1 + iterative.indexOf(handler);
    }

    private int sectionId(DeviceHandler device) {
        return 1 + iterative.size() + devices.indexOf(device);
    }

    /** What goes right after the preamble (QEMU's migration_thread: the return path's commands). */
    @FunctionalInterface
    public interface AfterPreamble {
        void write(MigrationOutput out) throws IOException;
    }

    /** Preamble, each iterative handler's START section, then the early devices' FULL sections. */
    public void setup(MigrationOutput out) throws IOException {
        setup(out, ignored -> { });
    }

    /** The same, with {@code afterPreamble}'s sections between the preamble and the first START. */
    public void setup(MigrationOutput out, AfterPreamble afterPreamble) throws IOException {
        described.clear();
        describedAtSetup = -1;
        preamble.write(out);
        afterPreamble.write(out);
        for (IterativeHandler handler : iterative) {
            int id = sectionId(handler);
            SectionHeader.write(out, new SectionHeader.Open(SectionType.START, id, handler.idstr(),
                    handler.instanceId(), handler.version()));
            handler.saveSetup(out);
            SectionHeader.writeFooter(out, id);
        }
        // After the STARTs (which carry no pages, and which a receiver may peek at to size its
        // RAM) and before any PART: what the pages' encoding depends on.
        for (DeviceHandler device : devices) {
            if (device.earlySetup()) {
                saveDevice(out, device);
            }
        }
        out.flush();
        Thread.ofVirtual().name("vmdesc-warm-up").start(this::warmUpVmDesc);
    }

    /** A COMMAND section (QEMU's qemu_savevm_command_send): type, be16 command, be16 length, payload. */
    public static void writeCommand(MigrationOutput out, MigrationCommand command, byte[] payload) throws IOException {
        out.putU8(SectionType.COMMAND.code());
        out.putBe16(command.code());
        out.putBe16(payload.length);
        out.putBytes(payload);
    }

    /** Bytes the iterative handlers still have to send. */
    public long pending(long threshold) {
        long total = 0;
        for (IterativeHandler handler : iterative) {
            total += handler.pending(threshold);
        }
        return total;
    }

    /**
     * One PART section per handler, stopping at the first that the rate limit cut short.
     *
     * @return true when every handler had nothing left
     */
    public boolean iterate(MigrationOutput out) throws IOException {
        for (IterativeHandler handler : iterative) {
            int id = sectionId(handler);
            SectionHeader.write(out, new SectionHeader.Continue(SectionType.PART, id));
            boolean done = handler.saveIterate(out);
            SectionHeader.writeFooter(out, id);
            if (!done) {
                return false;
            }
        }
        return true;
    }

    /** With the guest stopped: END sections, device FULL sections, EOF and the vmdesc. */
    public void complete(MigrationOutput out) throws IOException {
        if (describedAtSetup < 0) {
            describedAtSetup = described.size();
        } else { // again, on a resumed link: the devices are described anew
            described.subList(describedAtSetup, described.size()).clear();
        }
        writeEndSections(out);
        for (DeviceHandler device : devices) {
            if (!device.earlySetup()) {
                saveDevice(out, device);
            }
        }
        byte[] json = VmDesc.toQemuJson(VmDesc.document(TargetPage.SIZE, described)).getBytes(StandardCharsets.UTF_8);
        writeEnd(out, json);
        out.flush();
    }

    /**
     * The device state of a switch to postcopy, as QEMU's postcopy_start packages it: COMMAND
     * POSTCOPY_LISTEN, a FULL section per device (the early ones went at setup), COMMAND
     * POSTCOPY_RUN. The destination reads it whole before its guest runs; send it with
     * {@link #writePackaged}.
     *
     * @param included the devices that go in (a digest of RAM cannot: the guest runs on)
     */
    public byte[] postcopyPackage(java.util.function.Predicate<DeviceHandler> included) throws IOException {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (MigrationOutput pkg = MigrationOutput.to(bytes)) {
            writeCommand(pkg, MigrationCommand.POSTCOPY_LISTEN, new byte[0]);
            for (DeviceHandler device : devices) {
                if (!device.earlySetup() && included.test(device)) {
                    saveDevice(pkg, device);
                }
            }
            writeCommand(pkg, MigrationCommand.POSTCOPY_RUN, new byte[0]);
        }
        return bytes.toByteArray();
    }

    /** QEMU's qemu_savevm_send_packaged: COMMAND PACKAGED with the be32 length, then the blob. */
    public static void writePackaged(MigrationOutput out, byte[] blob) throws IOException {
        if (blob.length > LoadVm.MAX_PACKAGED) {
            throw new IOException("postcopy package of " + blob.length + " bytes, more than QEMU's limit of "
                    + LoadVm.MAX_PACKAGED);
        }
        writeCommand(out, MigrationCommand.PACKAGED, java.nio.ByteBuffer.allocate(4).putInt(blob.length).array());
        out.putBytes(blob);
    }

    /**
     * Postcopy: the pages the destination asked for, in a PART section of the RAM handler
     * (QEMU's ram_save_queue_pages, sent before the background pages).
     */
    public long sendRequested(MigrationOutput out, dev.vmmigrate.ram.RamHandler ram, String block, long start,
                              long length) throws IOException {
        int id = sectionId(ram);
        SectionHeader.write(out, new SectionHeader.Continue(SectionType.PART, id));
        long sent = ram.sendRequested(out, block, start, length);
        SectionHeader.writeFooter(out, id);
        return sent;
    }

    /** Postcopy's end (qemu_savevm_state_complete_postcopy): END sections with what is left, then EOF, no vmdesc. */
    public void completePostcopy(MigrationOutput out) throws IOException {
        writeEndSections(out);
        writeEnd(out, null);
        out.flush();
    }

    /** Each iterative handler's END section, with what it has left (precopy's and postcopy's end alike). */
    private void writeEndSections(MigrationOutput out) throws IOException {
        for (IterativeHandler handler : iterative) {
            int id = sectionId(handler);
            SectionHeader.write(out, new SectionHeader.Continue(SectionType.END, id));
            handler.saveComplete(out);
            SectionHeader.writeFooter(out, id);
        }
    }

    /** The stream's end: EOF, then the vmdesc JSON when there is one (null: none). */
    public static void writeEnd(MigrationOutput out, byte[] vmdesc) throws IOException {
        out.putU8(SectionType.EOF.code());
        if (vmdesc != null) {
            out.putU8(SectionType.VMDESCRIPTION.code());
            out.putBe32(vmdesc.length);
            out.putBytes(vmdesc);
        }
    }

    /**
     * Builds a vmdesc once, beside the first pass, and throws it away: the first JSON work of a
     * process loads and initialises Jackson, which must happen neither in setup nor while the
     * guest is stopped.
     */
    private void warmUpVmDesc() {
        List<VmDesc.DeviceEntry> entries = new ArrayList<>();
        for (DeviceHandler device : devices) {
            entries.add(new VmDesc.DeviceEntry(device.idstr(), device.instanceId(), device.description()));
        }
        VmDesc.toQemuJson(VmDesc.document(TargetPage.SIZE, entries));
    }

    private void saveDevice(MigrationOutput out, DeviceHandler device) throws IOException {
        int id = sectionId(device);
        SectionHeader.write(out, new SectionHeader.Open(SectionType.FULL, id, device.idstr(),
                device.instanceId(), device.version()));
        FieldValues values = device.saver().get();
        VmStateCodec.save(out, device.description(), values);
        SectionHeader.writeFooter(out, id);
        described.add(new VmDesc.DeviceEntry(device.idstr(), device.instanceId(), device.description(), values));
    }

    /** A whole snapshot with the guest already stopped: setup then complete, no iteration. */
    public void saveStopped(MigrationOutput out) throws IOException {
        setup(out);
        complete(out);
    }

    /** Releases what the handlers hold after a save, successful or not. */
    public void cleanup() {
        for (IterativeHandler handler : iterative) {
            handler.cleanup();
        }
    }

    public HandlerRegistry registry() {
        return registry;
    }
}
