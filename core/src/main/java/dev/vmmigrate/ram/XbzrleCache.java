package dev.vmmigrate.ram;

import dev.vmmigrate.stream.TargetPage;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * The sender's XBZRLE page cache, with QEMU 7.2's semantics (migration/page_cache.c, and how
 * migration/ram.c uses it): a direct-mapped table of page copies, one per slot, keyed by the
 * page's address.
 *
 * <ul>
 * <li>Slots: {@code cacheSize / pageSize} rounded down to a power of two; a page's slot is
 * {@code (key / pageSize) & (slots - 1)}. The key is the caller's global page address (QEMU uses
 * {@code block->offset + offset}); build it so distinct pages get distinct keys, e.g. the block's
 * start in a concatenation of all blocks plus the page's offset.
 * <li>Generation ("age"): QEMU passes the dirty-bitmap sync count ({@code dirty-sync-count}).
 * <li>{@link #isCached}: true when the slot holds this key; a hit refreshes the slot's age to the
 * current generation. There is no staleness test on lookup.
 * <li>{@link #insert}: the only place age matters. It refuses to evict a <em>different</em> page
 * whose age is within {@value #CACHED_PAGE_LIFETIME} generations (age + 2 > current); an empty
 * slot or the same key is always (re)written. On success the slot holds a copy, with the key and
 * the current generation.
 * </ul>
 *
 * <p>Memory: like QEMU's per-slot {@code g_try_malloc} on first insert, each slot's page is
 * allocated the first time something is inserted into it, from one shared arena, so a cache costs
 * only what it holds. {@link Arena#allocate} zeroes the page it returns, which touches only that
 * page; native allocations count against the JVM's direct-memory limit, and running out makes
 * {@link #insert} return false (QEMU: "We prefer not to abort if there is no memory"). Slot
 * bookkeeping (key, age, page reference) costs about 24 bytes per slot up front: 384 KiB for the
 * 64 MiB default with 4 KiB pages. {@link #close()} frees everything.
 *
 * <p>Not thread-safe: QEMU guards its cache with a lock (XBZRLE.lock); so must the caller.
 */
public final class XbzrleCache implements AutoCloseable {
    /** Generations during which a cached page is not replaced by another one (QEMU's CACHED_PAGE_LIFETIME). */
    public static final int CACHED_PAGE_LIFETIME = 2;

    /** QEMU's default {@code xbzrle-cache-size}: 64 MiB. */
    public static final long DEFAULT_SIZE = 64L * 1024 * 1024;

    /**
     * The largest size this process can address as a cache: the slot tables are Java arrays, so
     * the page count must fit an int ({@code Integer.MAX_VALUE} pages of {@link TargetPage#SIZE},
     * just under 8 TiB). Java's stand-in for QEMU's "does the value fit size_t" check.
     */
    public static final long MAX_ADDRESSABLE_BYTES = (long) Integer.MAX_VALUE * TargetPage.SIZE;

    private static final long EMPTY = -1;

    private final int pageSize;
    private final int slots;
    private final long[] keys;
    private final long[] ages;
    private final MemorySegment[] pages;
    private final Arena arena = Arena.ofShared();
    private int allocated;
    private boolean closed;

    /**
     * A cache of {@code cacheSizeBytes} rounded down to a power of two of pages.
     *
     * @throws IllegalArgumentException "cache size is smaller than target page size" (QEMU's
     *         cache_init) or "cache size exceeding address space" (more pages than an int holds)
     */
    public XbzrleCache(long cacheSizeBytes, int pageSize) {
        if (pageSize <= 0) {
            throw new IllegalArgumentException("page size " + pageSize + " is not positive");
        }
        if (cacheSizeBytes < pageSize) {
            throw new IllegalArgumentException("cache size is smaller than target page size");
        }
        long pageCount = cacheSizeBytes / pageSize;
        if (pageCount > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("cache size exceeding address space");
        }
        this.pageSize = pageSize;
        this.slots = Integer.highestOneBit((int) pageCount);
        this.keys = new long[slots];
        this.ages = new long[slots];
        this.pages = new MemorySegment[slots];
        Arrays.fill(keys, EMPTY);
    }

    /**
     * Checks a requested cache size the way QEMU's {@code qmp_migrate_set_cache_size} did (2014,
     * with {@code xbzrle_cache_resize}), in its order, for {@link TargetPage#SIZE} pages. The
     * value is compared as unsigned, as QEMU's size_t/uint64_t comparisons do: a negative one is
     * huge.
     *
     * <ol>
     * <li>more than {@link #MAX_ADDRESSABLE_BYTES}: "cache size exceeding address space";
     * <li>more than {@code guestRamBytes}: "cache size exceeds guest ram size";
     * <li>less than one page: "cache size is smaller than page size".
     * </ol>
     * (QEMU 7.2's migrate-set-parameters instead refuses any size that is not a power of two;
     * this check rounds down, as the 2014 command did.)
     *
     * @return the effective size: the request rounded down to a power of two of pages
     */
    public static long validateSize(long requested, long guestRamBytes) {
        if (guestRamBytes < 0) {
            throw new IllegalArgumentException("guest RAM size " + guestRamBytes + " is negative");
        }
        if (Long.compareUnsigned(requested, MAX_ADDRESSABLE_BYTES) > 0) {
            throw new IllegalArgumentException("cache size exceeding address space");
        }
        if (requested > guestRamBytes) {
            throw new IllegalArgumentException("cache size exceeds guest ram size");
        }
        if (requested < TargetPage.SIZE) {
            throw new IllegalArgumentException("cache size is smaller than page size");
        }
        return Long.highestOneBit(requested / TargetPage.SIZE) * TargetPage.SIZE;
    }

    /**
     * Whether the slot for {@code key} holds that page (QEMU's {@code cache_is_cached}). A hit sets
     * the slot's age to {@code currentGeneration}, which protects it from eviction for
     * {@value #CACHED_PAGE_LIFETIME} generations.
     */
    public boolean isCached(long key, long currentGeneration) {
        int slot = slot(key);
        checkGeneration(currentGeneration);
        if (keys[slot] != key) {
            return false;
        }
        ages[slot] = currentGeneration;
        return true;
    }

    /**
     * The cached copy of {@code key}'s page: the live slot of exactly the page size, writable, so
     * the caller can bring it up to date after encoding (ram.c copies the sent page into it).
     * Null when the slot holds no page or another page (QEMU would hand back whatever the slot
     * holds; callers only ask after a hit or a successful insert).
     */
    public MemorySegment get(long key) {
        int slot = slot(key);
        return keys[slot] == key ? pages[slot] : null;
    }

    /**
     * Copies {@code page} into the slot for {@code key} (QEMU's {@code cache_insert}) and gives
     * the slot {@code key} and {@code generation}.
     *
     * @return false, leaving the cache as it was, when the slot holds another page whose age is
     *         within {@value #CACHED_PAGE_LIFETIME} generations ({@code age + 2 > generation}), or
     *         when memory for the slot cannot be had
     */
    public boolean insert(long key, MemorySegment page, long generation) {
        int slot = slot(key);
        checkGeneration(generation);
        Objects.requireNonNull(page, "page");
        if (page.byteSize() < pageSize) {
            throw new IllegalArgumentException("page has " + page.byteSize() + " bytes, fewer than the page size "
                    + pageSize);
        }
        MemorySegment copy = pages[slot];
        // age + LIFETIME > generation, written so that it cannot overflow
        if (copy != null && keys[slot] != key && ages[slot] > generation - CACHED_PAGE_LIFETIME) {
            return false;
        }
        if (copy == null) {
            try {
                copy = arena.allocate(pageSize, Long.BYTES);
            } catch (OutOfMemoryError e) {
                return false;
            }
            pages[slot] = copy;
            allocated++;
        }
        MemorySegment.copy(page, 0, copy, 0, pageSize);
        ages[slot] = generation;
        keys[slot] = key;
        return true;
    }

    /** Bytes the cache can hold: slots times the page size. */
    public long sizeBytes() {
        return (long) slots * pageSize;
    }

    /** Number of slots: a power of two. */
    public long slots() {
        return slots;
    }

    /** Slots whose page has been allocated (QEMU's num_items): what the cache actually costs. */
    long allocatedPages() {
        return allocated;
    }

    /** Frees every cached page; any later use fails with {@link IllegalStateException}. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    private int slot(long key) {
        if (closed) {
            throw new IllegalStateException("XBZRLE cache closed");
        }
        if (key < 0) {
            throw new IllegalArgumentException("cache key " + key + " is negative");
        }
        return (int) ((key / pageSize) & (slots - 1));
    }

    private static void checkGeneration(long generation) {
        if (generation < 0) {
            throw new IllegalArgumentException("generation " + generation + " is negative");
        }
    }
}
