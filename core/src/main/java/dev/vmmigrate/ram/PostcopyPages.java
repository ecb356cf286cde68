package dev.vmmigrate.ram;

import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The destination's side of postcopy for the built-in guest, which vm-migrate runs itself so it
 * needs no userfaultfd: which pages are here, and a guest that touches one that is not waits
 * while it is asked for (QEMU's postcopy_request_page / REQ_PAGES) until the load writes it.
 * Installed on every RAM block at POSTCOPY_RUN; the load reports each page it writes
 * ({@link #arrived}); {@link #release} lets any waiter go when the load ends, whole or not.
 */
public final class PostcopyPages {
    /** Asks the source for a page (the return path's REQ_PAGES_ID). */
    @FunctionalInterface
    public interface Requester {
        void request(String block, long offset, int length) throws IOException;
    }

    private final Requester requester;
    /** By block id: one bit per page, set once the page is here. Guarded by this. */
    private final Map<String, long[]> present = new HashMap<>();
    /** By block id: pages asked for and not arrived yet, so each is asked for once. Guarded by this. */
    private final Map<String, long[]> requested = new HashMap<>();
    /** Volatile for the guest's fast path: once released, touching a page costs one read. */
    private volatile boolean released;
    private long faults;
    /** Nanoseconds each remote fault waited, for the percentiles; grows as faults come. Guarded by this. */
    private long[] latencies = new long[1024];

    /**
     * @param received by block id, the pages the load wrote before the switch (RECV_BITMAP's
     *     layout), without the ones the source discarded
     */
    public PostcopyPages(Map<String, long[]> received, Requester requester) {
        this.requester = requester;
        received.forEach((block, bits) -> {
            present.put(block, bits.clone());
            requested.put(block, new long[bits.length]);
        });
    }

    /** QEMU's POSTCOPY_RAM_DISCARD: the pages of {@code length} bytes at {@code start} are stale here. */
    public static void discard(Map<String, long[]> received, String block, long start, long length) {
        long[] bits = received.get(block);
        if (bits == null) {
            return;
        }
        for (long page = start / TargetPage.SIZE; page < (start + length) / TargetPage.SIZE
                && page < (long) bits.length * 64; page++) {
            bits[(int) (page >>> 6)] &= ~(1L << page);
        }
    }

    /** The load wrote {@code page} of {@code block}: a guest waiting for it goes on. */
    public synchronized void arrived(String block, long page) {
        long[] bits = present.get(block);
        if (bits != null) {
            bits[(int) (page >>> 6)] |= 1L << page;
            notifyAll();
        }
    }

    /**
     * The guest is about to touch {@code page} of {@code block}: returns at once when it is here,
     * else asks for it (once) and waits for it, or for {@link #release}.
     */
    public void await(String block, long page) {
        if (released) {
            return;
        }
        long began;
        boolean ask;
        synchronized (this) {
            long[] bits = present.get(block);
            if (bits == null || released || has(bits, page)) {
                return;
            }
            began = System.nanoTime();
            long[] asked = requested.get(block);
            ask = !has(asked, page);
            asked[(int) (page >>> 6)] |= 1L << page;
        }
        if (ask) {
            try {
                requester.request(block, page * TargetPage.SIZE, TargetPage.SIZE);
            } catch (IOException e) {
                // The link is gone: the page stays asked for and the guest waits, until a resumed
                // link asks again (requestAgain) or the load fails and releases every waiter.
            }
        }
        synchronized (this) {
            long[] bits = present.get(block);
            while (!released && !has(bits, page)) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            if (faults == latencies.length) {
                latencies = Arrays.copyOf(latencies, latencies.length * 2);
            }
            latencies[(int) faults++] = System.nanoTime() - began;
        }
    }

    /**
     * Postcopy recovery: by block, the pages here now (the RECV_BITMAP a resuming source asks
     * for), or null for a block this side does not know.
     */
    public synchronized long[] present(String block) {
        long[] bits = present.get(block);
        return bits == null ? null : bits.clone();
    }

    /**
     * Postcopy recovery, after RESUME_ACK: asks again for every page the guest waits for that has
     * not come, as QEMU's postcopy_pause_fault_thread's resend of its pending requests (the
     * source lost its queue with the old link).
     *
     * @return the pages asked for again
     */
    public long requestAgain() throws IOException {
        Map<String, long[]> missing = new HashMap<>();
        synchronized (this) {
            requested.forEach((block, asked) -> {
                long[] here = present.get(block);
                long[] lacking = new long[asked.length];
                for (int word = 0; word < asked.length; word++) {
                    lacking[word] = asked[word] & ~here[word];
                }
                missing.put(block, lacking);
            });
        }
        long pages = 0;
        for (Map.Entry<String, long[]> block : missing.entrySet()) {
            long[] lacking = block.getValue();
            for (int word = 0; word < lacking.length; word++) {
                for (long bits = lacking[word]; bits != 0; bits &= bits - 1) {
                    long page = (long) word * 64 + Long.numberOfTrailingZeros(bits);
                    requester.request(block.getKey(), page * TargetPage.SIZE, TargetPage.SIZE);
                    pages++;
                }
            }
        }
        return pages;
    }

    /** The load ended (whole, or failed and the guest stops): nobody waits any more. */
    public synchronized void release() {
        released = true;
        notifyAll();
    }

    /** Remote faults so far: pages the guest waited for. */
    public synchronized long faults() {
        return faults;
    }

    /** The wait of the remote faults at each of {@code percentiles} (0-100), in microseconds; empty without faults. */
    public synchronized List<Long> latencyMicros(double... percentiles) {
        if (faults == 0) {
            return List.of();
        }
        long[] sorted = Arrays.copyOf(latencies, (int) faults);
        Arrays.sort(sorted);
        // The nearest-rank percentile: the smallest wait at least p % of the faults did not exceed.
        return Arrays.stream(percentiles)
                .mapToObj(p -> sorted[Math.clamp((long) Math.ceil(p / 100 * sorted.length) - 1, 0, sorted.length - 1)]
                        / 1000)
                .toList();
    }

    private static boolean has(long[] bits, long page) {
        return (bits[(int) (page >>> 6)] & (1L << page)) != 0;
    }
}
