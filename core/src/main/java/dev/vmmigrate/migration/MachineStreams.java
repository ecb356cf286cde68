package dev.vmmigrate.migration;

import dev.vmmigrate.ownsections.StreamCapabilities;
import dev.vmmigrate.ownsections.IntegrityDigest;
import dev.vmmigrate.ownsections.RequiredSections;

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
        IntegrityDigest digest = new IntegrityDigest(guest.ramBlocks(), registry.devices(), ram::loadedPageCrcs);
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

    /**
     * The loader for {@code guest}: refuses a stream that leaves out any of its RAM blocks or
     * sections (the disk's is optional: without --copy-storage there is none).
     */
    public LoadVm loadVm(Guest guest) {
        java.util.List<String> required = new java.util.ArrayList<>();
        registry.iterative().stream().map(h -> h.idstr()).filter(id -> !id.equals(BlockMigration.IDSTR))
                .forEach(required::add);
        registry.devices().forEach(d -> required.add(d.idstr()));
        return new LoadVm(registry, guest.machineType())
                .whenRamIsFinal(seen -> {
                    if (seen.contains(StreamCapabilities.IDSTR)) { // from vm-migrate: a digest comes to check
                        digest.ramIsFinal();
                    }
                })
                .requiring(RequiredSections.of(required))
                .requiring((sections, postcopy, at) -> {
                    java.util.Set<String> loaded = new java.util.HashSet<>();
                    ram.loadedBlocks().forEach(b -> loaded.add(b.id()));
                    for (dev.vmmigrate.ram.RamBlock block : guest.ramBlocks()) {
                        if (!loaded.contains(block.id())) {
                            throw new dev.vmmigrate.stream.StreamFormatException("the stream ended without RAM block '"
                                    + block.id() + "' of this guest: a guest it leaves out is not resumed", at);
                        }
                    }
                });
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
