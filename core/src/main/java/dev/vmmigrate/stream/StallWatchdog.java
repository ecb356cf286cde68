package dev.vmmigrate.stream;

import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Notices a peer that stopped moving bytes: a link that stalls (peer alive, nothing arrives or
 * nothing is taken) would otherwise block a read or write for as long as TCP retransmits. Checks
 * a progress counter (a stream position) a few times a second and, when it has not moved for
 * {@code limit}, calls {@code onStall} once (which shuts the connection down, so the blocked
 * call returns) and remembers where.
 */
public final class StallWatchdog implements AutoCloseable {
    private final Duration limit;
    private final LongSupplier progress;
    private final LongSupplier offset;
    private final Runnable onStall;
    private final Thread thread;
    private volatile boolean closed;
    private volatile long stalledAt = -1;

    /** Watches a stream position, which is also the offset the error names. */
    public StallWatchdog(Duration limit, LongSupplier position, Runnable onStall) {
        this(limit, position, position, onStall);
    }

    /** Watches {@code progress} (anything that moves while bytes move); the error names {@code offset}. */
    public StallWatchdog(Duration limit, LongSupplier progress, LongSupplier offset, Runnable onStall) {
        this.limit = limit;
        this.progress = progress;
        this.offset = offset;
        this.onStall = onStall;
        this.thread = Thread.ofVirtual().name("stall-watchdog").start(this::watch);
    }

    private void watch() {
        long last = progress.getAsLong();
        long since = System.nanoTime();
        long tick = Math.max(10, Math.min(500, limit.toMillis() / 4));
        while (!closed) {
            try {
                Thread.sleep(tick);
            } catch (InterruptedException e) {
                return;
            }
            long now = progress.getAsLong();
            if (now != last) {
                last = now;
                since = System.nanoTime();
            } else if (System.nanoTime() - since >= limit.toNanos() && !closed) {
                stalledAt = offset.getAsLong();
                onStall.run();
                return;
            }
        }
    }

    /** Whether it fired. */
    public boolean stalled() {
        return stalledAt >= 0;
    }

    /** One line for the error: "stalled: no bytes ... for 30 s at offset N". */
    public String describe(String what) {
        return "stalled: " + what + " for " + formatLimit() + " at offset " + stalledAt;
    }

    private String formatLimit() {
        long millis = limit.toMillis();
        return millis % 1000 == 0 ? millis / 1000 + " s" : millis + " ms";
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
