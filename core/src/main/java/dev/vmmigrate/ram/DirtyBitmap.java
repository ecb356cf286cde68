package dev.vmmigrate.ram;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * One bit per guest page, set when the guest writes the page: the role of KVM's dirty log.
 * Thread-safe: writers {@link #mark} concurrently while the migration thread {@link #drainInto
 * drains}. Every bit a writer sets after its write is seen by exactly one later drain, so a
 * writer that marks <em>after</em> writing its page never loses an update.
 */
public final class DirtyBitmap {
    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);

    private final long pages;
    private final long[] bits;

    /** A clean bitmap for {@code pages} pages. */
    public DirtyBitmap(long pages) {
        if (pages < 0) {
            throw new IllegalArgumentException("page count " + pages + " is negative");
        }
        long words = (pages + 63) >>> 6;
        if (words > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("page count " + pages + " is too large for a dirty bitmap");
        }
        this.pages = pages;
        this.bits = new long[(int) words];
    }

    /** Number of pages tracked. */
    public long pages() {
        return pages;
    }

    /** Number of 64-bit words a drain target needs. */
    public int words() {
        return bits.length;
    }

    /** Marks {@code page} dirty (a full fence: the caller's earlier writes are visible to the drain that sees this bit). */
    public void mark(long page) {
        Objects.checkIndex(page, pages);
        WORDS.getAndBitwiseOr(bits, (int) (page >>> 6), 1L << page);
    }

    /** Marks every page dirty. */
    public void markAll() {
        for (int i = 0; i < bits.length; i++) {
            WORDS.getAndBitwiseOr(bits, i, wordMask(i));
        }
    }

    /** Whether {@code page} is dirty now. */
    public boolean isDirty(long page) {
        Objects.checkIndex(page, pages);
        return ((long) WORDS.getVolatile(bits, (int) (page >>> 6)) & (1L << page)) != 0;
    }

    /** Clears {@code page} and says whether it was dirty. */
    public boolean testAndClear(long page) {
        Objects.checkIndex(page, pages);
        long bit = 1L << page;
        return ((long) WORDS.getAndBitwiseAnd(bits, (int) (page >>> 6), ~bit) & bit) != 0;
    }

    /** Number of dirty pages now (a snapshot while writers run). */
    public long count() {
        long n = 0;
        for (int i = 0; i < bits.length; i++) {
            n += Long.bitCount((long) WORDS.getVolatile(bits, i));
        }
        return n;
    }

    /** Clears every bit. */
    public void clear() {
        for (int i = 0; i < bits.length; i++) {
            WORDS.setVolatile(bits, i, 0L);
        }
    }

    /**
     * Atomically (word by word) moves all set bits into {@code target} (OR) and clears them here.
     *
     * @param target a bitmap of {@link #words()} words, owned by the caller's thread
     * @return how many bits were newly set in {@code target}
     */
    public long drainInto(long[] target) {
        if (target.length != bits.length) {
            throw new IllegalArgumentException("drain target has " + target.length + " words, bitmap has " + bits.length);
        }
        long fresh = 0;
        for (int i = 0; i < bits.length; i++) {
            if ((long) WORDS.getAcquire(bits, i) == 0) {
                continue;
            }
            long taken = (long) WORDS.getAndSet(bits, i, 0L);
            fresh += Long.bitCount(taken & ~target[i]);
            target[i] |= taken;
        }
        return fresh;
    }

    private long wordMask(int word) {
        long remaining = pages - ((long) word << 6);
        return remaining >= 64 ? -1L : (1L << remaining) - 1;
    }
}
