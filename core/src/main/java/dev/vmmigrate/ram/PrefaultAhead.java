package dev.vmmigrate.ram;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Faults in fresh guest RAM a little ahead of a loader that fills it in address order, on a
 * thread of its own. Faulting in anonymous memory means allocating and zeroing it, which was the
 * largest single cost of loading a first pass (a third of the loading thread's time for a 1 GiB
 * guest); here it overlaps with the loader's copying instead of interrupting it.
 *
 * <p>Only a loader writing region after region (2 MiB each, a transparent huge page) is run
 * ahead of, and by {@link #AHEAD} regions at most, so a sparse guest, whose zero pages a load
 * never touches, does not grow: at most that many regions past the end of each run of written
 * regions are faulted in for nothing. Faulting in never changes a byte, so how the two threads
 * interleave does not matter.
 */
final class PrefaultAhead implements AutoCloseable {
    /** A transparent huge page: the unit the kernel faults anonymous guest RAM in. */
    static final long REGION = 2L << 20;
    /** How far ahead, in regions: 8 MiB, a few milliseconds of loading. */
    static final int AHEAD = 4;

    /** What faults a range in: {@link RamBlock#populate}, or a recorder in tests. */
    interface Populator {
        /** False when it cannot: the prefaulter stops. */
        boolean populate(long offset, long length);
    }

    private final Populator populator;
    private final long length;
    private final long regions;
    private final BlockingQueue<Long> requests = new ArrayBlockingQueue<>(4 * AHEAD);
    private final Thread thread;
    /** Loader thread only: the region written last, and the highest one requested. */
    private long lastWritten = -2;
    private long requestedUpTo = -1;

    PrefaultAhead(String name, long length, Populator populator) {
        this.populator = populator;
        this.length = length;
        this.regions = (length + REGION - 1) / REGION;
        this.thread = Thread.ofPlatform().name("prefault-" + name).daemon().start(this::run);
    }

    /** A prefaulter for {@code block}, or null when it is file-backed (its pages are the file's). */
    static PrefaultAhead of(RamBlock block) {
        if (block.file().isPresent()) {
            return null;
        }
        return new PrefaultAhead(block.id(), block.length(), block::populate);
    }

    /** The loader is about to write at {@code offset}: keep the regions after it faulted in. */
    void writing(long offset) {
        long region = offset / REGION;
        if (region == lastWritten) {
            return;
        }
        boolean streaming = region == lastWritten + 1;
        lastWritten = region;
        if (!streaming) {
            return;
        }
        long upTo = Math.min(regions - 1, region + AHEAD);
        for (long next = Math.max(region + 1, requestedUpTo + 1); next <= upTo; next++) {
            if (!requests.offer(next)) {
                break; // the helper is behind: the loader faults in what it writes itself
            }
            requestedUpTo = next;
        }
    }

    /** Stops the helper and waits for it, so nothing touches the block after this returns. */
    @Override
    public void close() {
        thread.interrupt();
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private void run() {
        try {
            while (true) {
                long region = requests.take();
                long offset = region * REGION;
                if (!populator.populate(offset, Math.min(REGION, length - offset))) {
                    return; // a kernel before 5.14: the loader faults in as it writes
                }
            }
        } catch (InterruptedException e) {
            // closed
        } catch (IllegalStateException e) {
            // the block was closed under us: the load is over anyway
        }
    }
}
