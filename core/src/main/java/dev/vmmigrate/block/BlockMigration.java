package dev.vmmigrate.block;

import dev.vmmigrate.savevm.IterativeHandler;
import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The {@code block} section (version 1, QEMU 7.2's migration/block.c): live migration of the
 * guest's disks, a bulk phase copying every chunk (or, in copy mode inc, every chunk that differs
 * from the base image) and a dirty phase re-sending what the guest wrote meanwhile.
 *
 * <p>QEMU registers {@code block} before {@code ram}, so its section comes first in the stream.
 * START carries only EOS; each PART is bulk steps (each a PROGRESS record when the percentage
 * moved, then a chunk) or, after the bulk phase, one pass over the dirty chunks, then EOS; END is
 * the rest of the bulk phase if any, every dirty chunk, PROGRESS 100 and EOS.
 *
 * <pre>{@code
 * BlockMigration block = new BlockMigration(List.of(disk), CopyMode.ALL, Map.of(), zeroBlocks, stats); // source
 * BlockMigration block = new BlockMigration(List.of(disk));                                            // destination
 * }</pre>
 */
public final class BlockMigration implements IterativeHandler {
    public static final String IDSTR = "block";
    public static final int VERSION = 1;

    private final List<Disk> disks;
    private final CopyMode mode;
    private final Map<String, Path> bases;
    private volatile boolean zeroBlocks;
    private long maxIterationNanos = BlockSender.MAX_ITERATION_NANOS;
    private final BlockStats stats;
    private final boolean canSave;
    private final BlockReceiver receiver;
    private BlockSender sender;

    /**
     * A handler that sends {@code disks} (and can load into them).
     *
     * @param mode ALL, or INC with a base image for every disk
     * @param baseImages by disk id, the base image each disk's destination started from (INC only;
     *     empty for ALL)
     * @param zeroBlocks capability zero-blocks: all-zero chunks go as ZERO_BLOCK records without data
     * @param stats where the counters go
     * @throws IllegalArgumentException for duplicate disk ids, a base image that names no disk, is
     *     missing, unreadable or the disk itself, INC without a base for every disk, or ALL with bases
     */
    public BlockMigration(List<Disk> disks, CopyMode mode, Map<String, Path> baseImages, boolean zeroBlocks,
                          BlockStats stats) {
        this(disks, mode, baseImages, zeroBlocks, stats, true);
    }

    /**
     * A handler for one disk, or for none but a base (see the other constructor).
     *
     * @param baseImage the base image of the single disk (INC), or null (ALL)
     */
    public BlockMigration(List<Disk> disks, CopyMode mode, Path baseImage, boolean zeroBlocks, BlockStats stats) {
        this(disks, mode, singleBase(disks, baseImage), zeroBlocks, stats, true);
    }

    /** A load-only handler writing into {@code disks}, found by their ids (the destination). */
    public BlockMigration(List<Disk> disks) {
        this(disks, CopyMode.ALL, Map.of(), false, new BlockStats(), false);
    }

    private BlockMigration(List<Disk> disks, CopyMode mode, Map<String, Path> baseImages, boolean zeroBlocks,
                           BlockStats stats, boolean canSave) {
        this.disks = List.copyOf(disks);
        this.mode = Objects.requireNonNull(mode, "mode");
        this.bases = Map.copyOf(baseImages);
        this.zeroBlocks = zeroBlocks;
        this.stats = Objects.requireNonNull(stats, "stats");
        this.canSave = canSave;
        validate();
        this.receiver = new BlockReceiver(this.disks, stats);
        stats.totalBytes.set(this.disks.stream().mapToLong(Disk::length).sum());
    }

    private static Map<String, Path> singleBase(List<Disk> disks, Path base) {
        if (base == null) {
            return Map.of();
        }
        if (disks.size() != 1) {
            throw new IllegalArgumentException("one base image given for " + disks.size() + " disks: "
                    + "name the disk each base belongs to");
        }
        return Map.of(disks.getFirst().id(), base);
    }

    private void validate() {
        Set<String> ids = new HashSet<>();
        for (Disk disk : disks) {
            if (!ids.add(disk.id())) {
                throw new IllegalArgumentException("two disks named '" + disk.id() + "'");
            }
        }
        if (mode == CopyMode.ALL && !bases.isEmpty()) {
            throw new IllegalArgumentException("base images are used only with copy-storage mode inc");
        }
        Map<String, Disk> byId = new LinkedHashMap<>();
        disks.forEach(d -> byId.put(d.id(), d));
        for (Map.Entry<String, Path> e : bases.entrySet()) {
            Disk disk = byId.get(e.getKey());
            Path base = e.getValue();
            if (disk == null) {
                throw new IllegalArgumentException("base image " + base + " is for disk '" + e.getKey()
                        + "', which the guest does not have");
            }
            if (!Files.isRegularFile(base) || !Files.isReadable(base)) {
                throw new IllegalArgumentException("base image " + base + " of disk '" + disk.id()
                        + "' is not a readable file");
            }
            try {
                if (Files.isSameFile(base, disk.path())) {
                    throw new IllegalArgumentException("base image " + base + " is disk '" + disk.id()
                            + "' itself: give the image the destination's disk was copied from");
                }
            } catch (IOException ex) {
                throw new IllegalArgumentException("base image " + base + ": " + ex.getMessage(), ex);
            }
        }
        if (mode == CopyMode.INC) {
            for (Disk disk : disks) {
                if (!bases.containsKey(disk.id())) {
                    throw new IllegalArgumentException("copy-storage mode inc needs a base image for disk '"
                            + disk.id() + "'");
                }
            }
        }
    }

    @Override
    public String idstr() {
        return IDSTR;
    }

    @Override
    public int version() {
        return VERSION;
    }

    public List<Disk> disks() {
        return disks;
    }

    public CopyMode mode() {
        return mode;
    }

    public BlockStats stats() {
        return stats;
    }

    /**
     * Sets capability zero-blocks for the next migration; read at {@link #saveSetup}, as QEMU reads
     * migrate_zero_blocks() when block migration starts.
     */
    public void configure(boolean zeroBlocks) {
        this.zeroBlocks = zeroBlocks;
    }

    /** True for a sending handler; false for a load-only one (the destination's). */
    public boolean canSave() {
        return canSave;
    }

    /** For tests: an iteration ends only on the rate limit or the step bound, never on time. */
    BlockMigration untimed() {
        maxIterationNanos = Long.MAX_VALUE;
        return this;
    }

    /** Whether all-zero chunks go without data. */
    public boolean zeroBlocks() {
        return zeroBlocks;
    }

    @Override
    public void saveSetup(MigrationOutput out) throws IOException {
        if (!canSave) {
            throw new IllegalStateException("a load-only block handler cannot save");
        }
        if (sender != null) {
            sender.close();
        }
        stats.reset();
        sender = new BlockSender(disks, bases, zeroBlocks, maxIterationNanos, stats);
        sender.setup(out);
    }

    /**
     * Bulk bytes not yet gone over plus dirty chunks. While the bulk phase runs this is never at or
     * under {@code threshold} (QEMU 7.2 reports threshold + 1 MiB then), so the migration cannot
     * complete before every disk has been copied once.
     */
    @Override
    public long pending(long threshold) {
        if (sender == null) {
            return stats.totalBytes.get();
        }
        sender.sync();
        long pending = sender.pendingBytes();
        if (pending <= threshold && !sender.bulkCompleted()) {
            pending = threshold > Long.MAX_VALUE - Disk.CHUNK_SIZE ? Long.MAX_VALUE : threshold + Disk.CHUNK_SIZE;
        }
        return pending;
    }

    @Override
    public boolean saveIterate(MigrationOutput out) throws IOException {
        return requireSender().iterate(out);
    }

    @Override
    public void saveComplete(MigrationOutput out) throws IOException {
        BlockSender s = requireSender();
        s.complete(out);
        s.close();
    }

    @Override
    public void load(MigrationInput in, SectionType type, int version) throws IOException {
        if (version != VERSION) {
            throw new StreamFormatException("block section version " + version + ", expected " + VERSION,
                    in.position());
        }
        receiver.load(in);
        if (type == SectionType.END) {
            receiver.force();
        }
    }

    @Override
    public void cleanup() {
        if (sender != null) {
            sender.close();
        }
    }

    private BlockSender requireSender() {
        if (sender == null) {
            throw new IllegalStateException("block migration not set up: saveSetup comes first");
        }
        return sender;
    }
}
