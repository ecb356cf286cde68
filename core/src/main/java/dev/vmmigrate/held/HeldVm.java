package dev.vmmigrate.held;

import dev.vmmigrate.guest.GlobalStateDevice;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.ram.RamStats;
import dev.vmmigrate.savevm.DeviceSection;
import dev.vmmigrate.savevm.SaveVm;
import dev.vmmigrate.savevm.SectionHeader;
import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.savevm.StreamPreamble;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.vmstate.FieldValues;
import dev.vmmigrate.vmstate.VmStateCodec;
import java.io.IOException;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A VM this side keeps but cannot run (QEMU's {@code pc} and {@code q35}: vm-migrate has no x86
 * CPU): the machine type, every RAM block as the stream declared it, and every device section
 * exactly as sent, with the vmdesc. It never runs; it can be written out again as one compact
 * stream that QEMU loads ({@link #save}), which is how a checkpoint, a restore and a relay carry
 * it. Built by {@link HeldVmReceiver}; owns its RAM and frees it on {@link #close()}.
 */
public final class HeldVm implements AutoCloseable {
    private final StreamPreamble preamble;
    private final List<RamBlock> blocks;
    private final List<DeviceSection> devices;
    private final byte[] vmdesc;

    HeldVm(StreamPreamble preamble, List<RamBlock> blocks, List<DeviceSection> devices, byte[] vmdesc) {
        this.preamble = Objects.requireNonNull(preamble, "preamble");
        this.blocks = List.copyOf(blocks);
        this.devices = List.copyOf(devices);
        this.vmdesc = vmdesc == null ? null : vmdesc.clone();
    }

    public String machineType() {
        return preamble.machineType();
    }

    public List<RamBlock> ramBlocks() {
        return blocks;
    }

    public long ramBytes() {
        return blocks.stream().mapToLong(RamBlock::length).sum();
    }

    /** The device sections in stream order, as they came. */
    public List<DeviceSection> devices() {
        return devices;
    }

    /** Bytes of device state on the wire, headers and footers included. */
    public long deviceBytes() {
        return devices.stream().mapToLong(DeviceSection::wireBytes).sum();
    }

    /** The run state the source had ({@code globalstate}), if the stream carried it. */
    public Optional<RunState> sourceRunState() {
        for (DeviceSection device : devices) {
            if (device.header().idstr().equals(GlobalStateDevice.IDSTR)) {
                try {
                    FieldValues values = VmStateCodec.load(MigrationInput.of(device.payload()),
                            GlobalStateDevice.DESCRIPTION, device.header().version());
                    GlobalStateDevice state = new GlobalStateDevice();
                    state.load(values);
                    return Optional.of(state.runState());
                } catch (IOException | IllegalArgumentException e) {
                    return Optional.empty();
                }
            }
        }
        return Optional.empty();
    }

    /**
     * Writes the VM as one stream: the preamble, the RAM section with every page once at its
     * current value (a zero page as a ZERO record), the device sections as they came, EOF and the
     * vmdesc. What QEMU's {@code -incoming} loads; the guest continues where it was.
     *
     * @return what went out of RAM (pages, zero pages, bytes)
     */
    public RamStats save(MigrationOutput out) throws IOException {
        preamble.write(out);
        // QEMU hands a PART or END to the handler whose last section id matches: keep RAM's id
        // apart from every device's.
        int ramId = 1 + devices.stream().mapToInt(d -> d.header().sectionId()).max().orElse(0);
        RamHandler ram = new RamHandler(blocks);
        try {
            SectionHeader.write(out, new SectionHeader.Open(SectionType.START, ramId, RamHandler.IDSTR, 0,
                    RamHandler.VERSION));
            ram.saveSetup(out);
            SectionHeader.writeFooter(out, ramId);
            SectionHeader.write(out, new SectionHeader.Continue(SectionType.END, ramId));
            ram.saveComplete(out);
            SectionHeader.writeFooter(out, ramId);
        } finally {
            ram.cleanup();
        }
        for (DeviceSection device : devices) {
            device.write(out);
        }
        SaveVm.writeEnd(out, vmdesc);
        out.flush();
        return ram.stats();
    }

    /** Flushes file-backed RAM to its file. */
    public void force() {
        blocks.forEach(RamBlock::force);
    }

    @Override
    public void close() {
        blocks.forEach(RamBlock::close);
    }
}
