package dev.vmmigrate.ram;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.BitSet;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class DirtyBitmapTest {
    @Test
    void marksCountsAndDrains() {
        DirtyBitmap bitmap = new DirtyBitmap(130);
        assertEquals(3, bitmap.words());
        assertEquals(0, bitmap.count());
        bitmap.mark(0);
        bitmap.mark(63);
        bitmap.mark(64);
        bitmap.mark(129);
        bitmap.mark(129);
        assertTrue(bitmap.isDirty(63));
        assertFalse(bitmap.isDirty(62));
        assertEquals(4, bitmap.count());

        long[] target = new long[bitmap.words()];
        target[0] = 1L; // page 0 already pending in the target
        assertEquals(3, bitmap.drainInto(target));
        assertEquals(0, bitmap.count());
        assertEquals(1L | 1L << 63, target[0]);
        assertEquals(1L, target[1]);
        assertEquals(2L, target[2]);
        assertEquals(0, bitmap.drainInto(target));

        bitmap.mark(5);
        assertTrue(bitmap.testAndClear(5));
        assertFalse(bitmap.testAndClear(5));
    }

    @Test
    void markAllCoversExactlyThePages() {
        DirtyBitmap bitmap = new DirtyBitmap(100);
        bitmap.markAll();
        assertEquals(100, bitmap.count());
        long[] target = new long[2];
        assertEquals(100, bitmap.drainInto(target));
        assertEquals((1L << 36) - 1, target[1]);
        bitmap.markAll();
        bitmap.clear();
        assertEquals(0, bitmap.count());
    }

    @Test
    void refusesBadArguments() {
        DirtyBitmap bitmap = new DirtyBitmap(10);
        assertThrows(IndexOutOfBoundsException.class, () -> bitmap.mark(10));
        assertThrows(IndexOutOfBoundsException.class, () -> bitmap.mark(-1));
        assertThrows(IllegalArgumentException.class, () -> bitmap.drainInto(new long[2]));
        assertThrows(IllegalArgumentException.class, () -> new DirtyBitmap(-1));
    }

    @Test
    void concurrentMarkingLosesNoBit() throws Exception {
        // Every page is marked exactly once (so a lost bit is never re-marked and hidden), by two
        // threads whose pages share words, while a third drains; repeated to widen the window.
        for (int round = 0; round < 20; round++) {
            int pages = 1 << 16;
            DirtyBitmap bitmap = new DirtyBitmap(pages);
            long[][] sequences = new long[2][];
            for (int t = 0; t < 2; t++) {
                long[] mine = new long[pages / 2];
                for (int i = 0; i < mine.length; i++) {
                    mine[i] = 2L * i + t;
                }
                shuffle(mine, new SplittableRandom(round * 2L + t));
                sequences[t] = mine;
            }
            long[] drained = new long[bitmap.words()];
            AtomicBoolean markersDone = new AtomicBoolean();
            AtomicLong fresh = new AtomicLong();
            CountDownLatch go = new CountDownLatch(1);
            Thread[] markers = new Thread[2];
            for (int t = 0; t < 2; t++) {
                long[] seq = sequences[t];
                markers[t] = Thread.ofPlatform().start(() -> {
                    awaitQuietly(go);
                    for (long p : seq) {
                        bitmap.mark(p);
                    }
                });
            }
            Thread drainer = Thread.ofPlatform().start(() -> {
                awaitQuietly(go);
                while (!markersDone.get()) {
                    fresh.addAndGet(bitmap.drainInto(drained));
                }
            });
            go.countDown();
            for (Thread m : markers) {
                m.join();
            }
            markersDone.set(true);
            drainer.join();
            fresh.addAndGet(bitmap.drainInto(drained));

            BitSet got = BitSet.valueOf(drained);
            assertEquals(pages, got.cardinality(), "round " + round + ": bits lost while draining");
            assertEquals(pages, fresh.get(), "round " + round + ": drains miscounted");
            assertEquals(0, bitmap.count());
        }
    }

    private static void shuffle(long[] a, SplittableRandom random) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            long tmp = a[i];
            a[i] = a[j];
            a[j] = tmp;
        }
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
