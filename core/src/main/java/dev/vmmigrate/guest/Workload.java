package dev.vmmigrate.guest;

import dev.vmmigrate.block.Disk;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.LongStream;

/**
 * The guest's "CPU": a thread that writes guest memory at a chosen rate and pattern, marking
 * every page it writes (after writing it) in the page's block's dirty bitmap.
 *
 * <p>Deterministic: step {@code k} chooses its page and its content from {@code (seed, k)}
 * alone (SplitMix64 of {@code seed + k}), so the only state is the step counter. Two guests
 * with equal memory, seed, spec and step counter end up with equal memory after the same number
 * of further steps; that is what {@link WorkloadDevice} migrates. The blocks are seen as one
 * page range, in list order.
 *
 * <p>With a disk, every {@value #DISK_WRITE_INTERVAL}th step (steps {@code k} with {@code k %
 * DISK_WRITE_INTERVAL == DISK_WRITE_INTERVAL - 1}) also writes {@value #DISK_WRITE_SIZE}
 * pseudo-random bytes to a pseudo-random {@value #DISK_WRITE_SIZE}-byte-aligned disk offset,
 * both chosen from {@code (seed, k)} alone, and the disk marks the chunk dirty after the write.
 * Pattern none writes neither RAM nor disk. Disk writes are steps like RAM writes, so
 * {@link #pause()} quiesces both. A disk I/O error ends the writer thread (or fails
 * {@link #runSteps}) with an UncheckedIOException.
 *
 * <p>Pacing is a token bucket refilled at {@code rate / 4096} steps a second and spent in
 * batches of about 10 ms; {@link #setThrottlePercent} takes that share of wall time away in
 * sleeps, as QEMU's CPU throttle does, so the effective rate drops by that share.
 *
 * <p>Life cycle: {@link #start()} once, then {@link #pause()} / {@link #resume()} any number of
 * times, {@link #stop()} at the end. Thread-safe.
 */
public final class Workload implements AutoCloseable {
    /** The workload's state that migrates. */
    public record State(WorkloadSpec spec, long seed, long steps) {
        public State {
            Objects.requireNonNull(spec, "spec");
            if (steps < 0) {
                throw new IllegalArgumentException("workload step counter " + steps + " is negative");
            }
        }
    }

    private static final long GOLDEN = 0x9E3779B97F4A7C15L;
    private static final long CONTENT_SALT = 0xD1B54A32D192ED03L;
    private static final long FILL_SALT = 0x5851F42D4C957F2DL;
    private static final long DISK_SALT = 0x2545F4914F6CDD1DL;
    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int PAGE = TargetPage.SIZE;
    private static final long SLICE_NANOS = 10_000_000L;
    private static final int UNLIMITED_BATCH = 256;
    /** Keeps a batch (and so the throttle's view of time) to a few milliseconds at high rates. */
    private static final int MAX_BATCH = 4096;

    /** With a disk, one disk write every this many steps. */
    public static final int DISK_WRITE_INTERVAL = 64;
    /** Bytes of each disk write, at an offset that is a multiple of this. */
    public static final int DISK_WRITE_SIZE = 4096;

    private final List<RamBlock> blocks;
    private final long[] blockStarts;
    private final long totalPages;
    /* Null without a disk. Written by whoever runs steps: one at a time (inFlight or the lock). */
    private final Disk disk;
    private final ByteBuffer diskBuffer;
    private final MemorySegment diskSegment;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    /* Guarded by lock. */
    private WorkloadSpec spec;
    private long seed;
    private boolean started;
    private boolean inFlight;
    private Thread thread;
    /* Written under lock, read by the worker between steps. */
    private volatile boolean paused;
    private volatile boolean stopped;
    /* Written only by whoever holds inFlight (or the lock while quiescent). */
    private volatile long steps;
    private volatile int throttlePercent;

    /** A workload over {@code blocks} (seen as one page range), not yet started. */
    public Workload(List<RamBlock> blocks, WorkloadSpec spec, long seed) {
        this(blocks, null, spec, seed);
    }

    /**
     * A workload over {@code blocks} (seen as one page range) that also writes {@code disk}
     * (null for none), not yet started.
     */
    public Workload(List<RamBlock> blocks, Disk disk, WorkloadSpec spec, long seed) {
        if (blocks.isEmpty()) {
            throw new IllegalArgumentException("a workload needs at least one RAM block");
        }
        this.blocks = List.copyOf(blocks);
        this.blockStarts = new long[this.blocks.size()];
        long pages = 0;
        for (int i = 0; i < this.blocks.size(); i++) {
            blockStarts[i] = pages;
            pages += this.blocks.get(i).pageCount();
        }
        this.totalPages = pages;
        this.disk = disk;
        this.diskBuffer = disk == null ? null : ByteBuffer.allocateDirect(DISK_WRITE_SIZE);
        this.diskSegment = disk == null ? null : MemorySegment.ofBuffer(diskBuffer);
        this.spec = Objects.requireNonNull(spec, "spec");
        this.seed = seed;
    }

    /** A workload over one block. */
    public Workload(RamBlock block, WorkloadSpec spec, long seed) {
        this(List.of(block), spec, seed);
    }

    /** The current spec. */
    public WorkloadSpec spec() {
        lock.lock();
        try {
            return spec;
        } finally {
            lock.unlock();
        }
    }

    /** The seed. */
    public long seed() {
        lock.lock();
        try {
            return seed;
        } finally {
            lock.unlock();
        }
    }

    /** Steps done so far (updated at least every ~10 ms while running, exact when paused). */
    public long steps() {
        return steps;
    }

    /** The disk this workload also writes, or null. */
    public Disk disk() {
        return disk;
    }

    /** Pages of all blocks together. */
    public long totalPages() {
        return totalPages;
    }

    /** The migrating state; exact when the workload is paused or not started. */
    public State state() {
        lock.lock();
        try {
            return new State(spec, seed, steps);
        } finally {
            lock.unlock();
        }
    }

    /** Takes over a state (from a migration source); only while paused or not yet started. */
    public void restore(State state) {
        Objects.requireNonNull(state, "state");
        lock.lock();
        try {
            requireQuiescent("restore its state");
            spec = state.spec();
            seed = state.seed();
            steps = state.steps();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Starts the writer thread (idle until the spec has something to do); once only. */
    public void start() {
        lock.lock();
        try {
            if (stopped) {
                throw new IllegalStateException("workload is stopped");
            }
            if (started) {
                throw new IllegalStateException("workload already started");
            }
            started = true;
            paused = false;
            thread = Thread.ofPlatform().daemon().name("vm-migrate-workload").start(this::run);
        } finally {
            lock.unlock();
        }
    }

    /** Stops writing; returns once no write is in flight, so memory is quiescent. */
    public void pause() {
        lock.lock();
        try {
            paused = true;
            changed.signalAll();
            while (inFlight) {
                changed.awaitUninterruptibly();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Writes again after {@link #pause()}. */
    public void resume() {
        lock.lock();
        try {
            if (stopped) {
                throw new IllegalStateException("workload is stopped");
            }
            paused = false;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Whether the writer thread is started and neither paused nor stopped. */
    public boolean isRunning() {
        return started && !paused && !stopped;
    }

    /** Ends the thread for good, returning once it has exited; idempotent. */
    public void stop() {
        Thread t;
        lock.lock();
        try {
            stopped = true;
            changed.signalAll();
            t = thread;
        } finally {
            lock.unlock();
        }
        if (t != null && t != Thread.currentThread()) {
            boolean interrupted = false;
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Same as {@link #stop()}. */
    @Override
    public void close() {
        stop();
    }

    /** Sleeps {@code percent} of the time (0..99), as QEMU's cpu-throttle-percentage. */
    public void setThrottlePercent(int percent) {
        if (percent < 0 || percent > 99) {
            throw new IllegalArgumentException("throttle " + percent + "% is not in 0..99");
        }
        throttlePercent = percent;
    }

    /** The current throttle. */
    public int throttlePercent() {
        return throttlePercent;
    }

    /**
     * Runs {@code count} steps now on the calling thread, unpaced (warm-up, tests, benchmarks);
     * only while paused or not started. Pattern none does nothing.
     *
     * @return the step counter afterwards
     */
    public long runSteps(long count) {
        if (count < 0) {
            throw new IllegalArgumentException("step count " + count + " is negative");
        }
        lock.lock();
        try {
            requireQuiescent("run steps on the caller's thread");
            if (spec.pattern() == WorkloadSpec.Pattern.NONE) {
                return steps;
            }
            long k = steps;
            for (long end = k + count; k < end; k++) {
                step(spec, seed, k);
            }
            steps = k;
            return k;
        } finally {
            lock.unlock();
        }
    }

    private void requireQuiescent(String what) {
        if (inFlight || (started && !paused && !stopped)) {
            throw new IllegalStateException("workload is running: pause it to " + what);
        }
    }

    // ---- the writer thread ----

    private void run() {
        double tokens = 0;
        long last = System.nanoTime();
        long sliceStart = last;
        while (true) {
            WorkloadSpec s;
            long sd;
            long batch;
            lock.lock();
            try {
                boolean waited = false;
                while (!stopped && (paused || spec.idle())) {
                    changed.awaitUninterruptibly();
                    waited = true;
                }
                if (stopped) {
                    return;
                }
                long now = System.nanoTime();
                if (waited) {
                    tokens = 0;
                    last = now;
                    sliceStart = now;
                }
                s = spec;
                sd = seed;
                if (s.unlimited()) {
                    batch = UNLIMITED_BATCH;
                } else {
                    double perNano = s.rate() / (double) PAGE / 1e9;
                    double target = Math.max(1.0, perNano * SLICE_NANOS);
                    tokens = Math.min(tokens + (now - last) * perNano, 2 * target);
                    last = now;
                    if (tokens < target) {
                        long wait = (long) Math.ceil((target - tokens) / perNano);
                        changed.awaitNanos(Math.max(wait, 1));
                        continue;
                    }
                    batch = Math.min((long) tokens, MAX_BATCH);
                }
                inFlight = true;
            } catch (InterruptedException e) {
                return;
            } finally {
                lock.unlock();
            }

            long done = 0;
            try {
                done = runBatch(s, sd, batch);
            } finally {
                lock.lock();
                try {
                    inFlight = false;
                    changed.signalAll();
                } finally {
                    lock.unlock();
                }
            }
            tokens -= done;

            long now = System.nanoTime();
            if (now - sliceStart >= SLICE_NANOS) {
                int pct = throttlePercent;
                if (pct > 0) {
                    sleepUnlessInterrupted((now - sliceStart) * pct / (100 - pct));
                    now = System.nanoTime();
                    last = now; // no tokens accrue while throttled
                }
                sliceStart = now;
            }
        }
    }

    /** Runs up to {@code count} steps, stopping early on pause or stop; returns the number done. */
    private long runBatch(WorkloadSpec s, long sd, long count) {
        long k = steps;
        long done = 0;
        try {
            while (done < count && !paused && !stopped) {
                step(s, sd, k);
                k++;
                done++;
            }
        } finally {
            steps = k;
        }
        return done;
    }

    /** Sleeps for the throttle, waking early on pause, stop or resume. */
    private void sleepUnlessInterrupted(long nanos) {
        lock.lock();
        try {
            long remaining = nanos;
            while (remaining > 0 && !paused && !stopped) {
                remaining = changed.awaitNanos(remaining);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            lock.unlock();
        }
    }

    // ---- the deterministic step ----

    /** Step {@code k}: writes its page, then marks it dirty; every {@value #DISK_WRITE_INTERVAL}th also writes the disk. */
    void step(WorkloadSpec s, long sd, long k) {
        long h = mix(sd + GOLDEN * (k + 1));
        if (disk != null && s.pattern() != WorkloadSpec.Pattern.NONE
                && Long.remainderUnsigned(k, DISK_WRITE_INTERVAL) == DISK_WRITE_INTERVAL - 1) {
            writeDisk(mix(h ^ DISK_SALT));
        }
        switch (s.pattern()) {
            case NONE -> {
            }
            case RANDOM -> writeRandomPage(Math.unsignedMultiplyHigh(h, totalPages), mix(h ^ CONTENT_SALT));
            case HOTSET -> writeRandomPage(Math.unsignedMultiplyHigh(h, hotPages(s)), mix(h ^ CONTENT_SALT));
            case SWEEP -> {
                long page = Long.remainderUnsigned(k, totalPages);
                int b = blockOf(page);
                RamBlock block = blocks.get(b);
                long local = page - blockStarts[b];
                MemorySegment mem = block.memory();
                long offset = local * PAGE;
                block.touch(local);
                mem.set(ValueLayout.JAVA_BYTE, offset, (byte) (mem.get(ValueLayout.JAVA_BYTE, offset) + 1));
                block.dirty().mark(local);
            }
        }
    }

    /** Writes {@value #DISK_WRITE_SIZE} pseudo-random bytes at a pseudo-random aligned offset; the disk marks it dirty. */
    private void writeDisk(long diskSeed) {
        long slots = Math.max(1, disk.length() / DISK_WRITE_SIZE);
        long offset = Math.unsignedMultiplyHigh(diskSeed, slots) * DISK_WRITE_SIZE;
        int length = (int) Math.min(DISK_WRITE_SIZE, disk.length() - offset);
        fillRandom(diskSegment, 0, mix(diskSeed ^ CONTENT_SALT));
        try {
            disk.write(offset, diskBuffer.clear().limit(length));
        } catch (IOException e) {
            throw new UncheckedIOException("workload write to " + disk + " failed: " + e.getMessage(), e);
        }
    }

    private long hotPages(WorkloadSpec s) {
        return Math.max(1, totalPages * s.hotsetPercent() / 100);
    }

    private void writeRandomPage(long page, long contentSeed) {
        int b = blockOf(page);
        RamBlock block = blocks.get(b);
        long local = page - blockStarts[b];
        block.touch(local); // a whole-page write needs no old content, but a page that arrives later would undo it
        fillRandom(block.memory(), local * PAGE, contentSeed);
        block.dirty().mark(local);
    }

    private int blockOf(long page) {
        if (blockStarts.length == 1) {
            return 0;
        }
        // Starts are distinct (blocks are never empty): an exact hit is that block, else the one before.
        int i = Arrays.binarySearch(blockStarts, page);
        return i >= 0 ? i : -i - 2;
    }

    private static void fillRandom(MemorySegment mem, long offset, long contentSeed) {
        MemorySegment page = mem.asSlice(offset, PAGE);
        long x = contentSeed;
        for (int i = 0; i < PAGE / 8; i++) {
            x += GOLDEN;
            page.set(LE_LONG, i * 8L, mix(x));
        }
    }

    /** SplitMix64's finaliser. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    // ---- initial RAM contents ----

    /** Deterministically fills {@code block}: about half its pages pseudo-random, the rest zero. */
    public static void fillHalfRandom(RamBlock block, long seed) {
        fillRandom(block, seed, 50);
    }

    /**
     * Deterministically fills {@code block}: about {@code randomPercent}% of its pages (chosen
     * by {@code seed}) with pseudo-random bytes, the others with zeros (already-zero pages are
     * left untouched). Written pages are marked dirty. Runs in parallel.
     */
    public static void fillRandom(RamBlock block, long seed, int randomPercent) {
        if (randomPercent < 0 || randomPercent > 100) {
            throw new IllegalArgumentException("random share " + randomPercent + "% is not in 0..100");
        }
        long pages = block.pageCount();
        long chunk = 4096;
        long threshold = Long.divideUnsigned(-1L, 100) * randomPercent;
        MemorySegment mem = block.memory();
        LongStream.range(0, (pages + chunk - 1) / chunk).parallel().forEach(c -> {
            long end = Math.min(pages, (c + 1) * chunk);
            for (long p = c * chunk; p < end; p++) {
                long r = mix((seed ^ FILL_SALT) + GOLDEN * (p + 1));
                boolean random = randomPercent == 100 || Long.compareUnsigned(r, threshold) < 0;
                if (random) {
                    fillRandom(mem, p * PAGE, mix(r ^ CONTENT_SALT));
                    block.dirty().mark(p);
                } else if (!block.isZeroPage(p)) {
                    mem.asSlice(p * PAGE, PAGE).fill((byte) 0);
                    block.dirty().mark(p);
                }
            }
        });
    }
}
