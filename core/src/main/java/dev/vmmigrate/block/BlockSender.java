package dev.vmmigrate.block;

import dev.vmmigrate.stream.MigrationOutput;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The sending half of QEMU's block.c, synchronous: a bulk phase that walks every disk once, chunk
 * by chunk (in copy mode inc leaving out chunks equal to the base image), then a dirty phase that
 * re-sends the chunks the guest wrote meanwhile. A chunk's dirty bit is cleared just before the
 * chunk is read, so a write that lands during or after the read marks it again.
 *
 * <p>Used by the migration thread only.
 */
final class BlockSender {
    /** Bulk or dirty steps per iteration at most (QEMU's MAX_IO_BUFFERS). */
    static final int MAX_STEPS_PER_ITERATION = 512;
    /** An iteration returns after this long even if the rate limit allows more (as RAM's). */
    static final long MAX_ITERATION_NANOS = 50_000_000L;
    /** Chunks found unchanged (inc) one bulk step may pass over before it yields. */
    private static final int MAX_UNCHANGED_PER_STEP = 64;

    private final List<DiskState> disks = new ArrayList<>();
    private final boolean zeroBlocks;
    private final long maxIterationNanos;
    private final BlockStats stats;
    private final long totalSectors;
    private final ByteBuffer chunk = ByteBuffer.allocateDirect(Disk.CHUNK_SIZE);
    private final MemorySegment chunkSegment = MemorySegment.ofBuffer(chunk);
    private final ByteBuffer baseChunk;
    private final MemorySegment zeros = MemorySegment.ofBuffer(ByteBuffer.allocateDirect(Disk.CHUNK_SIZE));
    private boolean bulkCompleted;
    private int lastProgress = -1;

    /** Per disk: the cursors and the migration's own dirty bitmap (QEMU's BlkMigDevState). */
    private static final class DiskState {
        final Disk disk;
        final long chunks;
        final long[] dirty;
        FileChannel base;
        long bulkCursor;
        /** QEMU's completed_sectors: what the PROGRESS records are computed from. */
        long completedSectors;
        boolean bulkDone;
        long dirtyCursor;

        DiskState(Disk disk) {
            this.disk = disk;
            this.chunks = disk.chunkCount();
            this.dirty = new long[disk.dirty().words()];
        }

        long sectors() {
            return (disk.length() + (1 << BlockFlags.SECTOR_BITS) - 1) >>> BlockFlags.SECTOR_BITS;
        }
    }

    /** Opens the base images (copy mode inc) and starts dirty tracking; writes nothing. */
    BlockSender(List<Disk> disks, Map<String, Path> bases, boolean zeroBlocks, long maxIterationNanos,
                BlockStats stats) throws IOException {
        this.zeroBlocks = zeroBlocks;
        this.maxIterationNanos = maxIterationNanos;
        this.stats = stats;
        this.baseChunk = bases.isEmpty() ? null : ByteBuffer.allocateDirect(Disk.CHUNK_SIZE);
        long sectors = 0;
        long total = 0;
        try {
            for (Disk disk : disks) {
                DiskState d = new DiskState(disk);
                this.disks.add(d);
                Path base = bases.get(disk.id());
                if (base != null) {
                    try {
                        d.base = FileChannel.open(base, StandardOpenOption.READ);
                    } catch (IOException e) {
                        throw new IOException("cannot open base image " + base + " of disk '" + disk.id() + "': "
                                + e.getMessage(), e);
                    }
                }
                // Dirty tracking starts now; the bulk phase covers everything written before.
                disk.dirty().drainInto(new long[disk.dirty().words()]);
                sectors += d.sectors();
                total += disk.length();
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
        this.totalSectors = sectors;
        stats.totalBytes.set(total);
        stats.transferredBytes.set(0);
    }

    boolean bulkCompleted() {
        return bulkCompleted;
    }

    /** Moves what the guest wrote since the last sync into the migration's bitmaps. */
    void sync() {
        long pendingDirty = 0;
        for (DiskState d : disks) {
            d.disk.dirty().drainInto(d.dirty);
            // Chunks the bulk phase has not reached yet will be read by it anyway.
            clearFrom(d.dirty, d.bulkCursor);
            pendingDirty += dirtyBytes(d);
        }
        stats.dirtyPendingBytes.set(pendingDirty);
    }

    /** Clears every bit from {@code from} on. */
    private static void clearFrom(long[] bits, long from) {
        int word = (int) (from >>> 6);
        if (word >= bits.length) {
            return;
        }
        bits[word] &= ~(-1L << from);
        Arrays.fill(bits, word + 1, bits.length, 0L);
    }

    /** Bytes the bulk phase has still to go over plus the dirty chunks: QEMU's pending, and then some. */
    long pendingBytes() {
        long pending = 0;
        for (DiskState d : disks) {
            pending += d.disk.length() - Math.min(d.disk.length(), d.bulkCursor * Disk.CHUNK_SIZE);
            pending += dirtyBytes(d);
        }
        return pending;
    }

    private static long dirtyBytes(DiskState d) {
        long bytes = 0;
        for (long word : d.dirty) {
            bytes += (long) Long.bitCount(word) * Disk.CHUNK_SIZE;
        }
        long last = d.chunks - 1;
        if (isSet(d.dirty, last)) {
            bytes -= Disk.CHUNK_SIZE - d.disk.chunkLength(last);
        }
        return bytes;
    }

    /** START payload: just EOS, as block_save_setup (no chunk has been read yet). */
    void setup(MigrationOutput out) throws IOException {
        long start = out.position();
        out.putBe64(BlockFlags.EOS);
        stats.wireBytes.addAndGet(out.position() - start);
    }

    /**
     * One PART payload: bulk steps until the bulk phase is over, then one pass over the dirty
     * chunks, until the rate limit, the step bound or the time bound ends it; then EOS.
     *
     * @return true when the bulk phase is over and the dirty pass reached the end of every disk
     */
    boolean iterate(MigrationOutput out) throws IOException {
        long start = out.position();
        long began = System.nanoTime();
        boolean passDone = false;
        try {
            sync();
            resetDirtyCursors();
            for (int steps = 0; steps < MAX_STEPS_PER_ITERATION; steps++) {
                if (out.isRateLimited() || System.nanoTime() - began > maxIterationNanos) {
                    break;
                }
                if (!bulkCompleted) {
                    if (!bulkStep(out)) {
                        bulkCompleted = true;
                    }
                } else if (!dirtyStep(out)) {
                    passDone = true;
                    break;
                }
            }
            out.putBe64(BlockFlags.EOS);
        } finally {
            stats.wireBytes.addAndGet(out.position() - start);
        }
        return passDone;
    }

    /** END payload: what is left of the bulk phase, every dirty chunk, PROGRESS 100, EOS. */
    void complete(MigrationOutput out) throws IOException {
        long start = out.position();
        try {
            sync();
            while (!bulkCompleted) {
                if (!bulkStep(out)) {
                    bulkCompleted = true;
                }
            }
            sync();
            resetDirtyCursors();
            while (dirtyStep(out)) {
                // one pass sends them all: the guest is stopped
            }
            out.putBe64(BlockFlags.word(100L << BlockFlags.SECTOR_BITS, BlockFlags.PROGRESS));
            stats.progress.set(100);
            out.putBe64(BlockFlags.EOS);
        } finally {
            stats.wireBytes.addAndGet(out.position() - start);
        }
        stats.dirtyPendingBytes.set(0);
    }

    // ---- bulk phase (QEMU's blk_mig_save_bulked_block and mig_save_device_bulk) ----

    /**
     * Advances the first disk whose bulk pass is not done: passes over unchanged chunks (inc),
     * sends the next chunk, and writes a PROGRESS record when the percentage changed.
     *
     * @return false when every disk's bulk pass was already done
     */
    private boolean bulkStep(MigrationOutput out) throws IOException {
        DiskState d = null;
        for (DiskState candidate : disks) {
            if (!candidate.bulkDone) {
                d = candidate;
                break;
            }
        }
        if (d == null) {
            writeProgressIfChanged(out);
            return false;
        }
        long sendChunk = -1;
        int unchanged = 0;
        while (d.bulkCursor < d.chunks && unchanged < MAX_UNCHANGED_PER_STEP) {
            long c = d.bulkCursor;
            clearDirty(d, c);
            readChunk(d, c);
            if (d.base != null && sameAsBase(d, c)) {
                d.bulkCursor++;
                unchanged++;
                stats.unchangedChunks.incrementAndGet();
                continue;
            }
            sendChunk = c;
            break;
        }
        if (sendChunk < 0) {
            // Nothing to send in this step: the end of the disk, or the unchanged bound.
            if (d.bulkCursor >= d.chunks) {
                d.completedSectors = d.sectors();
                d.bulkDone = true;
            } else {
                d.completedSectors = d.bulkCursor * BlockFlags.SECTORS_PER_CHUNK;
            }
            updateTransferred();
            writeProgressIfChanged(out);
            return true;
        }
        d.completedSectors = sendChunk * BlockFlags.SECTORS_PER_CHUNK;
        writeProgressIfChanged(out);
        sendChunk(out, d, sendChunk);
        d.bulkCursor = sendChunk + 1;
        if (d.bulkCursor >= d.chunks) {
            d.bulkDone = true;
        }
        updateTransferred();
        return true;
    }

    private void writeProgressIfChanged(MigrationOutput out) throws IOException {
        long completed = 0;
        for (DiskState d : disks) {
            completed += d.completedSectors;
        }
        int progress = totalSectors == 0 ? 100 : (int) (completed * 100 / totalSectors);
        if (progress != lastProgress) {
            lastProgress = progress;
            out.putBe64(BlockFlags.word((long) progress << BlockFlags.SECTOR_BITS, BlockFlags.PROGRESS));
            stats.progress.set(progress);
        }
    }

    private void updateTransferred() {
        long done = 0;
        for (DiskState d : disks) {
            done += Math.min(d.disk.length(), d.bulkCursor * Disk.CHUNK_SIZE);
        }
        stats.transferredBytes.set(done);
    }

    /** Whether chunk {@code c}, already read, equals the base image's; a base too short to hold it differs. */
    private boolean sameAsBase(DiskState d, long c) throws IOException {
        int length = d.disk.chunkLength(c);
        long offset = c * Disk.CHUNK_SIZE;
        baseChunk.clear().limit(length);
        long position = offset;
        while (baseChunk.hasRemaining()) {
            int n = d.base.read(baseChunk, position);
            if (n < 0) {
                return false;
            }
            position += n;
        }
        return baseChunk.flip().equals(chunk.duplicate().position(0).limit(length));
    }

    // ---- dirty phase (QEMU's blk_mig_save_dirty_block and mig_save_device_dirty) ----

    private void resetDirtyCursors() {
        for (DiskState d : disks) {
            d.dirtyCursor = 0;
        }
    }

    /** Sends the next dirty chunk from the cursors, disk after disk; false when the pass is at the end. */
    private boolean dirtyStep(MigrationOutput out) throws IOException {
        for (DiskState d : disks) {
            long c = nextSetBit(d.dirty, d.dirtyCursor, d.chunks);
            if (c < 0) {
                d.dirtyCursor = d.chunks;
                continue;
            }
            clearDirty(d, c);
            readChunk(d, c);
            sendChunk(out, d, c);
            stats.dirtyChunks.incrementAndGet();
            d.dirtyCursor = c + 1;
            return true;
        }
        return false;
    }

    // ---- chunks ----

    private static void clearDirty(DiskState d, long c) {
        d.disk.dirty().testAndClear(c);
        d.dirty[(int) (c >>> 6)] &= ~(1L << c);
    }

    /** Reads chunk {@code c} into the chunk buffer; a short last chunk is padded with zeros to 1 MiB. */
    private void readChunk(DiskState d, long c) throws IOException {
        int length = d.disk.chunkLength(c);
        chunk.clear().limit(length);
        d.disk.read(c * Disk.CHUNK_SIZE, chunk);
        if (length < Disk.CHUNK_SIZE) {
            chunkSegment.asSlice(length).fill((byte) 0);
        }
    }

    /** Writes the DEVICE_BLOCK record of the chunk in the buffer: ZERO_BLOCK when allowed and all zero. */
    private void sendChunk(MigrationOutput out, DiskState d, long c) throws IOException {
        boolean zero = zeroBlocks && chunkSegment.mismatch(zeros) < 0;
        int flags = BlockFlags.DEVICE_BLOCK | (zero ? BlockFlags.ZERO_BLOCK : 0);
        out.putBe64(BlockFlags.word(c * Disk.CHUNK_SIZE, flags));
        out.putCountedString(d.disk.id());
        if (zero) {
            stats.zeroChunks.incrementAndGet();
        } else {
            out.putBytes(chunkSegment, 0, Disk.CHUNK_SIZE);
            stats.dataChunks.incrementAndGet();
        }
    }

    private static boolean isSet(long[] bits, long i) {
        return (bits[(int) (i >>> 6)] & (1L << i)) != 0;
    }

    private static long nextSetBit(long[] words, long from, long limit) {
        if (from >= limit) {
            return -1;
        }
        int word = (int) (from >>> 6);
        long bits = words[word] & (-1L << from);
        while (true) {
            if (bits != 0) {
                long i = ((long) word << 6) + Long.numberOfTrailingZeros(bits);
                return i < limit ? i : -1;
            }
            if (++word == words.length) {
                return -1;
            }
            bits = words[word];
        }
    }

    /** Closes the base images; idempotent. */
    void close() {
        for (DiskState d : disks) {
            if (d.base != null) {
                try {
                    d.base.close();
                } catch (IOException ignored) {
                    // read-only: nothing is lost
                }
                d.base = null;
            }
        }
    }
}
