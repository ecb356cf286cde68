package dev.vmmigrate.ram;

import java.util.List;
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

    /** XBZRLE-encoded pages sent ({@code xbzrle-cache.pages}). */
    public final AtomicLong xbzrlePages = new AtomicLong();
    /** Bytes of XBZRLE encodings sent ({@code xbzrle-cache.bytes}). */
    public final AtomicLong xbzrleBytes = new AtomicLong();
    /** Dirty pages not found in the XBZRLE cache ({@code xbzrle-cache.cache-miss}). */
    public final AtomicLong xbzrleCacheMiss = new AtomicLong();
    /** Pages whose encoding would not have been smaller, sent whole ({@code xbzrle-cache.overflow}). */
    public final AtomicLong xbzrleOverflow = new AtomicLong();
    /** Pages XBZRLE was tried on: the base of the cache-miss rate. */
    public final AtomicLong xbzrleAttempts = new AtomicLong();

    /** Pages sent zstd-compressed ({@code compression.pages}). */
    public final AtomicLong compressedPages = new AtomicLong();
    /** Bytes of their compressed data ({@code compression.compressed-size}). */
    public final AtomicLong compressedBytes = new AtomicLong();

    private final List<AtomicLong> all = List.of(duplicatePages, normalPages, normalBytes, skippedPages,
            transferredBytes, dirtySyncCount, lastSyncDirtyPages, xbzrlePages, xbzrleBytes, xbzrleCacheMiss,
            xbzrleOverflow, xbzrleAttempts, compressedPages, compressedBytes);

    /** Zeroes every counter: a new migration starts from nothing. */
    public void reset() {
        all.forEach(counter -> counter.set(0));
    }
}
