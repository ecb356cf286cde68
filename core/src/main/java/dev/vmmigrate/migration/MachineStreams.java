package dev.vmmigrate.migration;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.savevm.HandlerRegistry;
import dev.vmmigrate.savevm.LoadVm;
import dev.vmmigrate.savevm.SaveVm;
import dev.vmmigrate.savevm.StreamPreamble;

/**
 * Puts a guest's state into stream handlers: RAM first (iterative), then the devices in QEMU's
 * order (timer, globalstate) and ours after them.
 *
 * @param registry the handlers, in section order
 * @param ram the RAM handler among them, for stats
 */
public record MachineStreams(HandlerRegistry registry, RamHandler ram) {

    /**
     * @param qemuCompatible leave out our own {@code vm-migrate/} sections, for a QEMU destination
     */
    public static MachineStreams of(Guest guest, boolean qemuCompatible) {
        RamHandler ram = new RamHandler(guest.ramBlocks());
        HandlerRegistry registry = new HandlerRegistry().add(ram);
        guest.deviceHandlers().forEach(registry::add);
        return new MachineStreams(qemuCompatible ? registry.withoutOwnSections() : registry, ram);
    }

    public SaveVm saveVm(Guest guest) {
        return new SaveVm(registry, new StreamPreamble(guest.machineType()));
    }

    public LoadVm loadVm(Guest guest) {
        return new LoadVm(registry, guest.machineType());
    }
}
