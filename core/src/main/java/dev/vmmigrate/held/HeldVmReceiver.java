package dev.vmmigrate.held;

import dev.vmmigrate.migration.IncomingMigration;
import dev.vmmigrate.ownsections.RequiredSections;
import dev.vmmigrate.ownsections.StreamCapabilities;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.ram.RamBlockResolver;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.savevm.HandlerRegistry;
import dev.vmmigrate.savevm.LoadVm;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Loads a stream of any machine type into a {@link HeldVm}: RAM blocks are made as the stream
 * announces them (anonymous memory, or {@code ramFile} for the block named {@code ramFileId}),
 * device sections are kept as bytes. A failed load frees what it made.
 */
public final class HeldVmReceiver implements IncomingMigration.Target {
    private final String ramFileId;
    private final Path ramFile;
    private final long maxRamBytes;
    /** Guarded by this. */
    private final List<RamBlock> blocks = new ArrayList<>();
    private volatile HeldVm vm;

    /**
     * @param ramFileId the block to map from {@code ramFile}, or null
     * @param ramFile a file to hold that block (created or of the block's size), or null
     */
    public HeldVmReceiver(String ramFileId, Path ramFile) {
        this(ramFileId, ramFile, dev.vmmigrate.ram.RamLimit.hostMemory());
    }

    /**
     * @param maxRamBytes the most RAM the stream may declare in all: a larger claim is refused
     *     before any block is made
     */
    public HeldVmReceiver(String ramFileId, Path ramFile, long maxRamBytes) {
        this.ramFileId = ramFileId;
        this.ramFile = ramFile;
        this.maxRamBytes = maxRamBytes;
    }

    /** The loader to read a stream of any machine type with. */
    public LoadVm loadVm() {
        return loadVm(null);
    }

    /** The loader to read a stream with, which must be for {@code machineType} (null: any). */
    public LoadVm loadVm(String machineType) {
        RamHandler ram = new RamHandler(RamBlockResolver.limited(maxRamBytes, "--max-ram", this::newBlock));
        // vm-migrate's capabilities section says how the pages are encoded (zstd): read it, keep it.
        StreamCapabilities capabilities = new StreamCapabilities(ram);
        return LoadVm.keepingUnknownDevices(new HandlerRegistry().add(ram).add(capabilities.handler()), machineType)
                .requiring(RequiredSections.of(java.util.List.of(RamHandler.IDSTR)))
                .requiring((sections, postcopy, at) -> {
                    if (ram.loadedBlocks().isEmpty()) {
                        throw new StreamFormatException("the stream ended without announcing any RAM block", at);
                    }
                });
    }

    private synchronized RamBlock newBlock(String id, long length, long offset) throws StreamFormatException {
        try {
            // Loaded beside the file and renamed over it once verified: a failed load leaves it as it was.
            RamBlock block = ramFile != null && id.equals(ramFileId)
                    ? RamBlock.mapFile(id, freshPartial(), length)
                    : RamBlock.anonymous(id, length, RamBlock.Pages.SMALL);
            blocks.add(block);
            return block;
        } catch (RuntimeException e) {
            throw new StreamFormatException("cannot hold RAM block " + StreamText.quote(id) + " of " + length
                    + " bytes: " + e.getMessage(), offset);
        }
    }

    /** The RAM file's sibling, emptied: a leftover of an earlier failed run is not RAM of this one. */
    private Path freshPartial() {
        Path partial = CheckpointFile.partialOf(ramFile);
        try {
            java.nio.file.Files.deleteIfExists(partial);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot remove " + partial + ": " + e.getMessage(), e);
        }
        return partial;
    }

    @Override
    public synchronized void loadFailed() {
        blocks.forEach(RamBlock::close);
        blocks.clear();
        if (ramFile != null) {
            try {
                java.nio.file.Files.deleteIfExists(CheckpointFile.partialOf(ramFile));
            } catch (java.io.IOException ignored) {
                // a leftover sibling is emptied by the next run; the RAM file itself is untouched
            }
        }
    }

    @Override
    public synchronized void loaded(LoadVm.Result result, boolean mayRun) throws StreamFormatException {
        if (ramFile != null && blocks.stream().noneMatch(b -> b.id().equals(ramFileId))) {
            throw new StreamFormatException("the stream has no RAM block " + StreamText.quote(ramFileId)
                    + " for the RAM file (it has: " + String.join(", ", blocks.stream().map(RamBlock::id).toList())
                    + "); use --ram-id", 0);
        }
        if (ramFile != null) {
            blocks.stream().filter(b -> b.id().equals(ramFileId)).forEach(RamBlock::force);
            try {
                CheckpointFile.replace(CheckpointFile.partialOf(ramFile), ramFile);
            } catch (java.io.IOException e) {
                throw new StreamFormatException("cannot put the received RAM in place of " + ramFile + ": "
                        + e.getMessage(), 0);
            }
        }
        vm = new HeldVm(result.preamble(), blocks, result.deviceSections(), result.vmdesc());
    }

    /** The VM, once loaded; null before or after a failure. */
    public HeldVm vm() {
        return vm;
    }
}
