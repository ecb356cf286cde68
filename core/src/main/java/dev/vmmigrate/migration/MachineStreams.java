package dev.vmmigrate.migration;

import dev.vmmigrate.ownsections.StreamCapabilities;
import dev.vmmigrate.ownsections.IntegrityDigest;

import dev.vmmigrate.block.BlockMigration;
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
 * @param digest the end-to-end digest section (sent last unless QEMU-compatible)
 * @param capabilities the section announcing capabilities (sent first unless QEMU-compatible)
 * @param block the disk's section, or null when no disk is migrated
 */
public record MachineStreams(HandlerRegistry registry, RamHandler ram, IntegrityDigest digest,
                             StreamCapabilities capabilities, BlockMigration block) {

    /**
     * @param qemuCompatible leave out our own {@code vm-migrate/} sections (workload, digest), for
     *     a QEMU destination
     */
    public static MachineStreams of(Guest guest, boolean qemuCompatible) {
        return of(guest, qemuCompatible, null);
    }

    /**
     * @param block a sending handler (send --copy-storage), a load-only one (receive), or null
     */
    public static MachineStreams of(Guest guest, boolean qemuCompatible, BlockMigration block) {
        RamHandler ram = new RamHandler(guest.ramBlocks());
        HandlerRegistry registry = new HandlerRegistry();
        if (block != null) {
            registry.add(block); // QEMU registers "block" before "ram"
        }
        registry.add(ram);
        guest.deviceHandlers().forEach(registry::add);
        StreamCapabilities capabilities = new StreamCapabilities(ram);
        registry.add(capabilities.handler());
        IntegrityDigest digest = new IntegrityDigest(guest.ramBlocks(), registry.devices());
        registry.add(digest.handler());
        return new MachineStreams(qemuCompatible ? registry.withoutOwnSections() : registry, ram, digest,
                capabilities, block);
    }

    /** False when built for a QEMU destination: our own sections are left out. */
    public boolean carriesOwnSections() {
        return registry.findDevice(StreamCapabilities.IDSTR, 0) != null;
    }

    public SaveVm saveVm(Guest guest) {
        return new SaveVm(registry, new StreamPreamble(guest.machineType()));
    }

    public LoadVm loadVm(Guest guest) {
        return new LoadVm(registry, guest.machineType());
    }

    /** An incoming migration into {@code guest} that verifies the digest before the guest runs. */
    public IncomingMigration incoming(Guest guest, boolean startPaused) {
        IncomingMigration incoming = new IncomingMigration(guest, loadVm(guest), startPaused);
        incoming.addCheck(result -> {
            String mismatch = digest.mismatch(result.devices());
            if (mismatch != null) {
                throw new java.io.IOException("verification failed: " + mismatch);
            }
        });
        return incoming;
    }
}
