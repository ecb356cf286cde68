package dev.vmmigrate.block;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Disk counters. Written by the migration (or loading) thread, read by anyone: atomics keep each
 * figure whole. The first three are query-migrate's {@code disk} object.
 */
public final class BlockStats {
    /** Size of all disks migrated ({@code disk.total}). */
    public final AtomicLong totalBytes = new AtomicLong();
    /**
     * Bytes of disk the bulk phase has dealt with, sent or (copy mode inc) found unchanged
     * ({@code disk.transferred}, QEMU's completed sectors); reaches the total when the bulk phase ends.
     */
    public final AtomicLong transferredBytes = new AtomicLong();
    /** Bytes of block records put on the wire: headers, data, PROGRESS and EOS. */
    public final AtomicLong wireBytes = new AtomicLong();
    /** Chunks sent with their data, bulk and dirty phase. */
    public final AtomicLong dataChunks = new AtomicLong();
    /** Chunks sent as ZERO_BLOCK records (no data). */
    public final AtomicLong zeroChunks = new AtomicLong();
    /** Chunks the bulk phase left out as equal to the base image (copy mode inc). */
    public final AtomicLong unchangedChunks = new AtomicLong();
    /** Chunks re-sent because the guest wrote them after they were sent (dirty phase). */
    public final AtomicLong dirtyChunks = new AtomicLong();
    /** Bytes of dirty chunks waiting to be re-sent, as of the latest sync. */
    public final AtomicLong dirtyPendingBytes = new AtomicLong();
    /** The latest PROGRESS percentage sent, or received; -1 before any. */
    public final AtomicInteger progress = new AtomicInteger(-1);

    /** Chunks with data written by the receiver. */
    public final AtomicLong loadedChunks = new AtomicLong();
    /** ZERO_BLOCK records applied by the receiver. */
    public final AtomicLong loadedZeroChunks = new AtomicLong();

    /** Zeroes every counter but the total (progress back to -1): a new migration starts. */
    public void reset() {
        for (AtomicLong counter : new AtomicLong[] {transferredBytes, wireBytes, dataChunks, zeroChunks,
                unchangedChunks, dirtyChunks, dirtyPendingBytes, loadedChunks, loadedZeroChunks}) {
            counter.set(0);
        }
        progress.set(-1);
    }

    /** {@code disk.remaining}: total minus transferred, as QEMU's blk_mig_bytes_remaining. */
    public long remainingBytes() {
        return Math.max(0, totalBytes.get() - transferredBytes.get());
    }
}
