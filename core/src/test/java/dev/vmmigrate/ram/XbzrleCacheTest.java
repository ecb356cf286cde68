package dev.vmmigrate.ram;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.stream.TargetPage;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class XbzrleCacheTest {
    private static final int PAGE = TargetPage.SIZE;
    private static final long MIB = 1024 * 1024;
    private static final long GIB = 1024 * MIB;

    private static MemorySegment filled(int value) {
        byte[] page = new byte[PAGE];
        Arrays.fill(page, (byte) value);
        return MemorySegment.ofArray(page);
    }

    private static int firstByte(MemorySegment segment) {
        return segment.get(ValueLayout.JAVA_BYTE, 0) & 0xff;
    }

    @Test
    void slotCountIsRoundedDownToAPowerOfTwo() {
        try (XbzrleCache cache = new XbzrleCache(64 * MIB, PAGE)) {
            assertEquals(16384, cache.slots());
            assertEquals(64 * MIB, cache.sizeBytes());
        }
        try (XbzrleCache cache = new XbzrleCache(5L * PAGE, PAGE)) {
            assertEquals(4, cache.slots());
            assertEquals(4L * PAGE, cache.sizeBytes());
        }
        try (XbzrleCache cache = new XbzrleCache(3L * PAGE + 100, PAGE)) {
            assertEquals(2, cache.slots());
        }
        try (XbzrleCache cache = new XbzrleCache(PAGE, PAGE)) {
            assertEquals(1, cache.slots());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new XbzrleCache(PAGE - 1, PAGE));
        assertEquals("cache size is smaller than target page size", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new XbzrleCache(((long) Integer.MAX_VALUE + 1) * PAGE, PAGE));
        assertEquals("cache size exceeding address space", e.getMessage());
    }

    @Test
    void allocatesAPageOnlyWhenASlotIsFirstUsed() {
        try (XbzrleCache cache = new XbzrleCache(64 * MIB, PAGE)) {
            assertEquals(0, cache.allocatedPages());
            assertTrue(cache.insert(0, filled(1), 1));
            assertTrue(cache.insert(PAGE, filled(2), 1));
            assertTrue(cache.insert(PAGE, filled(3), 1)); // same slot, same key: reused
            assertEquals(2, cache.allocatedPages());
        }
    }

    @Test
    void insertCopiesAndGetReturnsTheLiveSlot() {
        try (XbzrleCache cache = new XbzrleCache(4L * PAGE, PAGE)) {
            long key = 5L * PAGE; // slot 1
            assertFalse(cache.isCached(key, 1));
            assertNull(cache.get(key));

            byte[] source = new byte[PAGE];
            source[10] = 7;
            assertTrue(cache.insert(key, MemorySegment.ofArray(source), 1));
            source[10] = 8; // the cache holds a copy
            assertTrue(cache.isCached(key, 1));
            MemorySegment cached = cache.get(key);
            assertNotNull(cached);
            assertEquals(PAGE, cached.byteSize());
            assertEquals(7, cached.get(ValueLayout.JAVA_BYTE, 10));

            cached.set(ValueLayout.JAVA_BYTE, 10, (byte) 9); // the caller updates the cached copy
            assertEquals(9, cache.get(key).get(ValueLayout.JAVA_BYTE, 10));

            // Same slot (1), other keys: not cached, no data handed out.
            assertFalse(cache.isCached(PAGE, 1));
            assertFalse(cache.isCached(9L * PAGE, 1));
            assertNull(cache.get(PAGE));
            // Other slots.
            assertFalse(cache.isCached(6L * PAGE, 1));
            // An address inside the page is a different key (QEMU keys on the exact address).
            assertFalse(cache.isCached(key + 8, 1));
        }
    }

    @Test
    void aFreshPageOfAnotherKeyIsNotEvictedForTwoGenerations() {
        try (XbzrleCache cache = new XbzrleCache(4L * PAGE, PAGE)) {
            long a = 0;
            long b = 4L * PAGE; // same slot as a
            assertTrue(cache.insert(a, filled(0xa), 5));
            assertFalse(cache.insert(b, filled(0xb), 5));
            assertFalse(cache.insert(b, filled(0xb), 6)); // 5 + 2 > 6
            assertTrue(cache.isCached(a, 5));
            assertEquals(0xa, firstByte(cache.get(a)));

            assertTrue(cache.insert(b, filled(0xb), 7)); // 5 + 2 > 7 is false: evicted
            assertFalse(cache.isCached(a, 7));
            assertNull(cache.get(a));
            assertTrue(cache.isCached(b, 7));
            assertEquals(0xb, firstByte(cache.get(b)));
        }
    }

    @Test
    void aHitRefreshesTheAge() {
        try (XbzrleCache cache = new XbzrleCache(4L * PAGE, PAGE)) {
            long a = 2L * PAGE;
            long b = 6L * PAGE;
            assertTrue(cache.insert(a, filled(1), 1));
            // No staleness on lookup: an old entry is still a hit, and the hit makes it fresh.
            assertTrue(cache.isCached(a, 10));
            assertFalse(cache.insert(b, filled(2), 11));
            assertTrue(cache.insert(b, filled(2), 12));
        }
    }

    @Test
    void theSameKeyIsAlwaysRewritten() {
        try (XbzrleCache cache = new XbzrleCache(4L * PAGE, PAGE)) {
            assertTrue(cache.insert(PAGE, filled(1), 5));
            assertTrue(cache.insert(PAGE, filled(2), 5));
            assertEquals(2, firstByte(cache.get(PAGE)));
            assertTrue(cache.insert(PAGE, filled(3), 3)); // even with an older generation
            assertEquals(3, firstByte(cache.get(PAGE)));
        }
    }

    @Test
    void refusesBadArgumentsAndUseAfterClose() {
        XbzrleCache cache = new XbzrleCache(4L * PAGE, PAGE);
        assertThrows(IllegalArgumentException.class, () -> cache.isCached(-1, 0));
        assertThrows(IllegalArgumentException.class, () -> cache.insert(0, filled(0), -1));
        assertThrows(IllegalArgumentException.class,
                () -> cache.insert(0, MemorySegment.ofArray(new byte[PAGE - 1]), 0));
        assertTrue(cache.insert(0, filled(1), 0));
        MemorySegment slot = cache.get(0);
        cache.close();
        cache.close();
        assertThrows(IllegalStateException.class, () -> cache.isCached(0, 0));
        assertThrows(IllegalStateException.class, () -> slot.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void validateSizeRoundsDownToAPowerOfTwoOfPages() {
        assertEquals(64 * MIB, XbzrleCache.validateSize(64 * MIB, GIB));
        assertEquals(64 * MIB, XbzrleCache.validateSize(100 * MIB, GIB));
        assertEquals(PAGE, XbzrleCache.validateSize(5000, GIB));
        assertEquals(2L * PAGE, XbzrleCache.validateSize(3L * PAGE, GIB));
        assertEquals(GIB, XbzrleCache.validateSize(GIB, GIB)); // equal to guest RAM is allowed
        assertEquals((1L << 30) * PAGE,
                XbzrleCache.validateSize(XbzrleCache.MAX_ADDRESSABLE_BYTES, Long.MAX_VALUE));
    }

    @Test
    void validateSizeRefusalsInQemusOrder() {
        assertRefused("cache size exceeding address space", XbzrleCache.MAX_ADDRESSABLE_BYTES + 1, Long.MAX_VALUE);
        assertRefused("cache size exceeding address space", -1, Long.MAX_VALUE); // unsigned: huge
        assertRefused("cache size exceeds guest ram size", GIB + 1, GIB);
        assertRefused("cache size exceeds guest ram size", PAGE, PAGE - 1); // checked before the page size
        assertRefused("cache size is smaller than page size", PAGE - 1, GIB);
        assertRefused("cache size is smaller than page size", 0, GIB);
    }

    private static void assertRefused(String reason, long requested, long guestRam) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> XbzrleCache.validateSize(requested, guestRam));
        assertEquals(reason, e.getMessage());
    }
}
