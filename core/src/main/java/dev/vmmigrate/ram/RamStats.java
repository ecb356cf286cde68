package dev.vmmigrate.ram;

import java.util.concurrent.atomic.AtomicLong;

/**
 * RAM counters with query-migrate's meanings. Written by the migration thread, read by anyone
 * (progress, stats): atomics keep the readers' figures whole.
 */
public final class RamStats {
    /** Pages sent as ZERO records ({@code ram.duplicate}). */
    public final AtomicLong duplicatePages = new AtomicLong();
    /** Pages sent whole ({@code ram.normal}). */
    public final AtomicLong normalPages = new AtomicLong();
    /** Payload bytes of whole pages ({@code ram.normal-bytes}). */
    public final AtomicLong normalBytes = new AtomicLong();
    /** Pages left out because untouched since the last pass ({@code ram.skipped}). */
    public final AtomicLong skippedPages = new AtomicLong();
    /** Bytes of RAM records put on the wire, headers included ({@code ram.transferred}). */
    public final AtomicLong transferredBytes = new AtomicLong();
    /** Dirty-bitmap syncs ({@code ram.dirty-sync-count}). */
    public final AtomicLong dirtySyncCount = new AtomicLong();
    /** Pages found newly dirty by the latest sync. */
    public final AtomicLong lastSyncDirtyPages = new AtomicLong();
}
