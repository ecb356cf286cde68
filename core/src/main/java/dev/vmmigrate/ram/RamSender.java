package dev.vmmigrate.ram;

import dev.vmmigrate.savevm.PostcopyDiscard;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The sending half of QEMU's ram.c: keeps a migration bitmap per block, fed from the guest's
 * dirty bitmaps at each sync, and writes dirty pages as ZERO or PAGE records until the output's
 * rate limit is reached.
 */
final class RamSender {
    /** Read the clock for {@link #MAX_ITERATION_NANOS} every this many pages, as QEMU does (it is not free). */
    private static final int PAGES_PER_TIME_CHECK = 64;
    /** An iteration returns after this long even if the rate limit allows more (QEMU's MAX_WAIT). */
    private static final long MAX_ITERATION_NANOS = 50_000_000L;
    private static final MemorySegment ZERO_PAGE = MemorySegment.ofArray(new byte[TargetPage.SIZE]);

    private final List<RamBlock> blocks;
    private final RamStats stats;
    private final long[][] bitmaps;
    /**
     * For a resumable save: by block and page, the stream offset where the page was last sent
     * (-1: never), so a resumed migration knows which pages the destination may lack.
     */
    private final long[][] sentAt;
    /** Whether pages go through the XBZRLE cache; the cache itself may be replaced meanwhile. */
    private final boolean xbzrle;
    /**
     * Guards {@link #xbzrleCache} (replaced by {@link #resizeXbzrleCache} from another thread) and
     * what is in it, as the seeds' XBZRLE.lock; held for the cache work of a page, never while
     * writing to the output, so a resize does not wait for a blocked socket.
     */
    private final Object xbzrleLock = new Object();
    private XbzrleCache xbzrleCache;
    private boolean closed;
    private final ZstdPages zstd;
    /** Tells the zero pages of anonymous blocks that were never written without reading them; may be null. */
    private final PageMap pageMap;
    /** A stable copy of the page being sent: the guest may write the original meanwhile. */
    private final byte[] pageCopy = new byte[TargetPage.SIZE];
    private final MemorySegment pageCopySegment = MemorySegment.ofArray(pageCopy);
    private final byte[] encoded = new byte[TargetPage.SIZE];
    private long dirtyPages;
    private int cursorBlock;
    private long cursorPage;
    /** Full rounds over all blocks: XBZRLE starts after the first, as in QEMU. */
    private long roundsCompleted;
    /** True while sending the END section: no cache inserts then, as QEMU's last stage. */
    private boolean lastStage;
    private RamBlock lastSentBlock;
    /** QEMU's multifd channels, which take the whole pages; null when they go on the main stream. */
    private final PageChannels channels;

    /**
     * @param channels where whole pages go instead of the main stream (multifd), or null; zero
     *     pages stay on the main stream, as QEMU 7.2 sends them and every destination loads them
     */
    RamSender(List<RamBlock> blocks, RamStats stats, RamSaveOptions options, PageChannels channels) {
        this.channels = channels;
        this.blocks = List.copyOf(blocks);
        this.stats = stats;
        this.xbzrle = options.xbzrle();
        this.xbzrleCache = xbzrle ? new XbzrleCache(options.xbzrleCacheBytes(), TargetPage.SIZE) : null;
        this.zstd = options.compress() ? ZstdPages.forCompression(options.compressLevel()) : null;
        this.bitmaps = new long[blocks.size()][];
        this.sentAt = options.resumable() ? new long[blocks.size()][] : null;
        for (int i = 0; i < blocks.size(); i++) {
            bitmaps[i] = new long[blocks.get(i).dirty().words()];
            if (sentAt != null) {
                sentAt[i] = new long[Math.toIntExact(blocks.get(i).pageCount())];
                java.util.Arrays.fill(sentAt[i], -1);
            }
        }
        this.pageMap = blocks.stream().anyMatch(block -> block.file().isEmpty()) ? PageMap.open() : null;
    }

    long totalBytes() {
        long total = 0;
        for (RamBlock block : blocks) {
            total += block.length();
        }
        return total;
    }

    /** START payload: MEM_SIZE and the block list; every page is dirty for the first pass. */
    void setup(MigrationOutput out) throws IOException {
        long start = out.position();
        for (int i = 0; i < blocks.size(); i++) {
            RamBlock block = blocks.get(i);
            // Everything goes in the first pass: what the guest dirtied so far is already covered.
            block.dirty().drainInto(bitmaps[i]);
            long pages = block.pageCount();
            for (int w = 0; w < bitmaps[i].length; w++) {
                long remaining = pages - (long) w * 64;
                bitmaps[i][w] = remaining >= 64 ? -1L : (1L << remaining) - 1;
            }
            dirtyPages += pages;
        }
        stats.dirtySyncCount.incrementAndGet();
        out.putBe64(totalBytes() | RamFlags.MEM_SIZE);
        for (RamBlock block : blocks) {
            out.putCountedString(block.id());
            out.putBe64(block.length());
        }
        syncChannels(out); // QEMU's ram_save_setup: the channels' first sync point
        out.putBe64(RamFlags.EOS);
        stats.transferredBytes.addAndGet(out.position() - start);
    }

    long remainingBytes() {
        return dirtyPages * TargetPage.SIZE;
    }

    /** Moves what the guest dirtied since the last sync into the migration bitmaps. */
    long sync() {
        long fresh = 0;
        for (int i = 0; i < blocks.size(); i++) {
            fresh += blocks.get(i).dirty().drainInto(bitmaps[i]);
        }
        dirtyPages += fresh;
        long syncs = stats.dirtySyncCount.incrementAndGet();
        stats.lastSyncDirtyPages.set(fresh);
        if (syncs > 2) {
            // Every page the guest left alone since the previous sync is one not sent this pass.
            long pages = blocks.stream().mapToLong(RamBlock::pageCount).sum();
            stats.skippedPages.addAndGet(Math.max(0, pages - fresh));
        }
        return fresh;
    }

    /**
     * The switch to postcopy (QEMU's ram_postcopy_send_discard_bitmap): after a last sync, by
     * block, the runs of dirty pages as byte ranges. The destination drops them (it may hold an
     * older copy) and gets each again, by request or in the background.
     */
    java.util.Map<String, List<PostcopyDiscard.Range>> dirtyRuns() {
        sync();
        java.util.Map<String, List<PostcopyDiscard.Range>> runs = new java.util.LinkedHashMap<>();
        for (int i = 0; i < blocks.size(); i++) {
            List<PostcopyDiscard.Range> ranges = new java.util.ArrayList<>();
            long page = nextSetBit(bitmaps[i], 0);
            while (page >= 0) {
                long end = page + 1;
                while (end < blocks.get(i).pageCount() && (bitmaps[i][(int) (end >>> 6)] & (1L << end)) != 0) {
                    end++;
                }
                ranges.add(new PostcopyDiscard.Range(page * TargetPage.SIZE, (end - page) * TargetPage.SIZE));
                page = nextSetBit(bitmaps[i], end);
            }
            runs.put(blocks.get(i).id(), ranges);
        }
        return runs;
    }

    /**
     * Postcopy: sends at once the pages of {@code length} bytes from {@code start} in block
     * {@code blockId} that are still dirty (QEMU's ram_save_queue_pages); one already sent is on
     * its way. Then EOS.
     *
     * @return the pages sent
     * @throws IllegalArgumentException for a block this guest lacks or a range outside it
     */
    long sendRequested(MigrationOutput out, String blockId, long start, long length) throws IOException {
        int index = -1;
        for (int i = 0; i < blocks.size(); i++) {
            if (blocks.get(i).id().equals(blockId)) {
                index = i;
            }
        }
        if (index < 0) {
            throw new IllegalArgumentException("the destination asked for pages of RAM block '" + blockId
                    + "', which this guest does not have");
        }
        RamBlock block = blocks.get(index);
        if (start < 0 || length <= 0 || start % TargetPage.SIZE != 0 || start > block.length() - length) {
            throw new IllegalArgumentException("the destination asked for " + length + " bytes at " + start
                    + " of RAM block '" + blockId + "' (" + block.length() + " bytes)");
        }
        long begin = out.position();
        lastSentBlock = null;
        long sent = 0;
        try {
            for (long page = start / TargetPage.SIZE; page < (start + length + TargetPage.SIZE - 1) / TargetPage.SIZE;
                    page++) {
                long bit = 1L << page;
                int word = (int) (page >>> 6);
                if ((bitmaps[index][word] & bit) != 0) {
                    bitmaps[index][word] &= ~bit;
                    dirtyPages--;
                    sendPage(out, block, page);
                    sent++;
                }
            }
            out.putBe64(RamFlags.EOS);
        } finally {
            stats.transferredBytes.addAndGet(out.position() - begin);
        }
        return sent;
    }

    /** The END section: what is left goes out, without filling the XBZRLE cache. */
    void enterLastStage() {
        lastStage = true;
    }

    void close() {
        if (pageMap != null) {
            pageMap.close();
        }
        if (zstd != null) {
            zstd.close();
        }
        synchronized (xbzrleLock) {
            closed = true;
            if (xbzrleCache != null) {
                xbzrleCache.close();
            }
        }
    }

    /**
     * Replaces the XBZRLE cache at once by an empty one of {@code bytes} (a power of two of
     * pages), as the seeds' xbzrle_cache_resize (2014) does, dropping what was cached: pages
     * miss and go whole until cached again. The same size keeps the cache. Any thread; nothing
     * without XBZRLE or once closed.
     */
    void resizeXbzrleCache(long bytes) {
        replaceXbzrleCache(bytes, false);
    }

    /**
     * Puts an empty cache of {@code bytes} in place of the live one; a cache of that size already
     * stays unless {@code evenIfSameSize}.
     */
    private void replaceXbzrleCache(long bytes, boolean evenIfSameSize) {
        XbzrleCache old;
        synchronized (xbzrleLock) {
            if (!xbzrle || closed || (!evenIfSameSize && xbzrleCache.sizeBytes() == bytes)) {
                return;
            }
            old = xbzrleCache;
        }
        XbzrleCache fresh = new XbzrleCache(bytes, TargetPage.SIZE); // allocated outside the lock, as QEMU does
        synchronized (xbzrleLock) {
            if (closed || xbzrleCache != old) { // closed, or resized meanwhile: the later resize wins
                fresh.close();
                return;
            }
            xbzrleCache = fresh;
        }
        old.close(); // the migration thread no longer sees it: it takes the lock for every use
    }

    /** See {@link RamHandler#resume}. */
    long resume(long wholeUpTo, java.util.Map<String, long[]> received) {
        if (sentAt == null) {
            throw new IllegalStateException("this save was not made resumable");
        }
        long redirtied = 0;
        for (int i = 0; i < blocks.size(); i++) {
            RamBlock block = blocks.get(i);
            long[] held = receivedBitmap(received, block);
            long[] dirty = bitmaps[i];
            for (int page = 0; page < sentAt[i].length; page++) {
                long at = sentAt[i][page];
                boolean lost = at >= wholeUpTo || (at >= 0 && (held[page >>> 6] & (1L << page)) == 0);
                if (lost && (dirty[page >>> 6] & (1L << page)) == 0) {
                    dirty[page >>> 6] |= 1L << page;
                    dirtyPages++;
                    redirtied++;
                }
            }
        }
        resetXbzrleCache();
        return redirtied;
    }

    /** The destination's bitmap of {@code block}'s pages, checked to be there and to cover the block. */
    private static long[] receivedBitmap(java.util.Map<String, long[]> received, RamBlock block) {
        long[] held = received.get(block.id());
        if (held == null || (long) held.length * 64 < block.pageCount()) {
            throw new IllegalArgumentException("the destination's bitmap of RAM block '" + block.id() + "' "
                    + (held == null ? "is missing" : "covers " + held.length * 64L + " pages, not "
                            + block.pageCount()));
        }
        return held;
    }

    /**
     * Postcopy recovery (QEMU's ram_dirty_bitmap_reload): a page is to send exactly when the
     * destination's {@code received} bitmap lacks it. The guest here has been stopped since the
     * switch, so every page it holds is the one the destination must get.
     *
     * @return the pages to send again that had been sent already (lost with the old link)
     * @throws IllegalArgumentException when a bitmap is missing or does not fit its block
     */
    long reloadFromReceived(java.util.Map<String, long[]> received) {
        long lost = 0;
        long dirty = 0;
        for (int i = 0; i < blocks.size(); i++) {
            RamBlock block = blocks.get(i);
            long[] held = receivedBitmap(received, block);
            long[] bits = bitmaps[i];
            for (long page = 0; page < block.pageCount(); page++) {
                int word = (int) (page >>> 6);
                long bit = 1L << page;
                boolean wanted = (held[word] & bit) == 0;
                if (wanted) {
                    if ((bits[word] & bit) == 0) {
                        lost++;
                    }
                    bits[word] |= bit;
                    dirty++;
                } else {
                    bits[word] &= ~bit;
                }
            }
        }
        dirtyPages = dirty;
        return lost;
    }

    /** An empty cache of the same size: what was cached may never have reached the destination. */
    private void resetXbzrleCache() {
        long size;
        synchronized (xbzrleLock) {
            if (!xbzrle || closed) {
                return;
            }
            size = xbzrleCache.sizeBytes();
        }
        replaceXbzrleCache(size, true);
    }

    /**
     * Sends dirty pages until none is left, or (when {@code limited}) the rate limit or the time
     * bound ends the round; then EOS.
     *
     * @return true when no dirty page is left
     */
    boolean sendDirty(MigrationOutput out, boolean limited) throws IOException {
        long start = out.position();
        long began = System.nanoTime();
        lastSentBlock = null; // each section names its first block again
        if (pageMap != null) {
            // A page written before this round must be read: its dirty bit may have been synced
            // into this round already. One written during the round is still dirty for the next.
            pageMap.forget();
        }
        int sinceTimeCheck = 0;
        boolean done = false;
        try {
            while (true) {
                if (!sendNextDirtyPage(out)) {
                    done = true;
                    break;
                }
                if (!limited) {
                    continue;
                }
                // The limit after every page, as ram_save_iterate's qemu_file_rate_limit: checked
                // every 64 pages, a window could run 256 KiB over (2.65 MiB/s at 2M/s). The check
                // is a position compared with the window's end.
                if (out.isRateLimited()) {
                    break;
                }
                if (++sinceTimeCheck >= PAGES_PER_TIME_CHECK) {
                    sinceTimeCheck = 0;
                    if (System.nanoTime() - began > MAX_ITERATION_NANOS) {
                        break;
                    }
                }
            }
            if (channels != null && (!channels.flushRecords() || lastStage)) {
                syncChannels(out); // every EOS in QEMU 7.2's form; the last one in any
            }
            out.putBe64(RamFlags.EOS);
            if (channels != null) {
                // The destination's channels wait at this sync point until its main stream gets
                // here: what is buffered must go now, not when the buffer fills (QEMU flushes too).
                out.flush();
            }
        } finally {
            stats.transferredBytes.addAndGet(out.position() - start);
        }
        return done;
    }

    /** Finds the next dirty page from the cursor (wrapping once) and sends it; false if none. */
    private boolean sendNextDirtyPage(MigrationOutput out) throws IOException {
        if (dirtyPages == 0) {
            return false;
        }
        for (int scanned = 0; scanned <= blocks.size(); scanned++) {
            long page = nextSetBit(bitmaps[cursorBlock], cursorPage);
            if (page >= 0) {
                bitmaps[cursorBlock][(int) (page >>> 6)] &= ~(1L << page);
                dirtyPages--;
                if (sentAt != null) {
                    sentAt[cursorBlock][(int) page] = out.position();
                }
                sendPage(out, blocks.get(cursorBlock), page);
                cursorPage = page + 1;
                return true;
            }
            cursorBlock = (cursorBlock + 1) % blocks.size();
            cursorPage = 0;
            if (cursorBlock == 0) {
                roundsCompleted++;
                if (channels != null && channels.flushRecords()) {
                    syncChannels(out); // QEMU 8.0+'s find_dirty_block: once a round, not every section
                }
            }
        }
        throw new IllegalStateException("dirty page count " + dirtyPages + " but no dirty bit set");
    }

    private void sendPage(MigrationOutput out, RamBlock block, long page) throws IOException {
        long offset = page * TargetPage.SIZE;
        long cacheKey = ((long) cursorBlock << 48) | offset;
        if (isZero(block, page)) {
            writeHeader(out, block, offset, RamFlags.ZERO);
            out.putU8(0);
            stats.duplicatePages.incrementAndGet();
            if (xbzrleActive() && !lastStage) {
                // The destination now holds zeros: the cache must agree (QEMU's xbzrle_cache_zero_page).
                MemorySegment.copy(ZERO_PAGE, 0, pageCopySegment, 0, TargetPage.SIZE);
                synchronized (xbzrleLock) {
                    xbzrleCache.insert(cacheKey, pageCopySegment, stats.dirtySyncCount.get());
                }
            }
            return;
        }
        if (channels != null) {
            handedToChannels(out, channels.queuePage(block, offset));
            stats.normalPages.incrementAndGet();
            stats.normalBytes.addAndGet(TargetPage.SIZE);
            return;
        }
        if (!xbzrle && zstd == null) {
            // Plain pages go straight from guest memory to the socket, as QEMU sends them.
            writeHeader(out, block, offset, RamFlags.PAGE);
            out.putReferenced(block.memory(), offset, TargetPage.SIZE);
            stats.normalPages.incrementAndGet();
            stats.normalBytes.addAndGet(TargetPage.SIZE);
            return;
        }
        // Encoders need a page that does not change under them: work on a copy.
        MemorySegment.copy(block.memory(), offset, pageCopySegment, 0, TargetPage.SIZE);
        if (xbzrleActive() && sendXbzrle(out, block, offset, cacheKey)) {
            return;
        }
        if (zstd != null) {
            int length = zstd.compress(pageCopy, encoded);
            if (length > 0) {
                writeHeader(out, block, offset, RamFlags.COMPRESS_PAGE);
                out.putBe32(length);
                out.putBytes(encoded, 0, length);
                stats.compressedPages.incrementAndGet();
                stats.compressedBytes.addAndGet(length);
                stats.normalPages.incrementAndGet();
                stats.normalBytes.addAndGet(TargetPage.SIZE);
                return;
            }
        }
        writeHeader(out, block, offset, RamFlags.PAGE);
        out.putBytes(pageCopy);
        stats.normalPages.incrementAndGet();
        stats.normalBytes.addAndGet(TargetPage.SIZE);
    }

    /**
     * A sync point (QEMU's multifd_send_sync_main): the destination writes nothing a channel sent
     * after it until the main stream and every channel reached it, so a page sent again must
     * have one between its copies. In QEMU 7.2's form it ends every RAM section (its destination
     * syncs at every EOS), and the dirty bitmap is synced only between sections. With flush
     * records (QEMU 8.0+), the main stream marks it with MULTIFD_FLUSH and it comes at setup,
     * each time the page cursor wraps round and at the end, as QEMU 8.0+ does: a page the
     * bitmap sync dirties again lies behind the cursor, which passes it again only after a wrap.
     */
    private void syncChannels(MigrationOutput out) throws IOException {
        if (channels == null) {
            return;
        }
        handedToChannels(out, channels.sync());
        if (channels.flushRecords()) {
            out.putBe64(RamFlags.MULTIFD_FLUSH);
            // The destination's channels stop at their SYNC until its main stream reads this
            // record: it must go now, not when the buffer fills (QEMU flushes here too), or a
            // sender waiting for room on the channels would wait for ever.
            out.flush();
        }
    }

    /** Bytes given to the channels count for the rate limit and ram.transferred, as QEMU counts them. */
    private void handedToChannels(MigrationOutput out, long bytes) {
        if (bytes > 0) {
            out.addSideBytes(bytes);
            stats.transferredBytes.addAndGet(bytes);
        }
    }

    /**
     * A page never written is zero without being read (scanning the zero pages of a half-zero
     * guest took as much of the sending thread as the socket writes); any other is compared.
     */
    private boolean isZero(RamBlock block, long page) {
        return (pageMap != null && block.neverBacked(pageMap, page)) || block.isZeroPage(page);
    }

    private boolean xbzrleActive() {
        return xbzrle && roundsCompleted > 0;
    }

    /**
     * QEMU's save_xbzrle_page: a page not in the cache is cached (unless in the last stage) and
     * sent whole; an unchanged one is not sent; one whose encoding would not be smaller is
     * counted as overflow and sent whole. Returns true when the page needs nothing more.
     */
    private boolean sendXbzrle(MigrationOutput out, RamBlock block, long offset, long cacheKey) throws IOException {
        int length;
        synchronized (xbzrleLock) {
            length = xbzrleDelta(cacheKey);
        }
        if (length == 0) {
            return true; // the destination already has exactly this page
        }
        if (length < 0) {
            return false; // not cached, or the delta would not be smaller: the page goes whole
        }
        writeHeader(out, block, offset, RamFlags.XBZRLE);
        out.putU8(RamFlags.ENCODING_FLAG_XBZRLE);
        out.putBe16(length);
        out.putBytes(encoded, 0, length);
        stats.xbzrlePages.incrementAndGet();
        stats.xbzrleBytes.addAndGet(length);
        return true;
    }

    /**
     * The cache work of {@link #sendXbzrle}, under the cache lock: the delta of the page copy
     * against its cached copy into {@code encoded}, and the cache brought up to date.
     *
     * @return the delta's length; 0 when the page is unchanged; -1 when it must go whole
     */
    private int xbzrleDelta(long cacheKey) {
        long generation = stats.dirtySyncCount.get();
        stats.xbzrleAttempts.incrementAndGet();
        if (!xbzrleCache.isCached(cacheKey, generation)) {
            stats.xbzrleCacheMiss.incrementAndGet();
            if (!lastStage) {
                xbzrleCache.insert(cacheKey, pageCopySegment, generation);
            }
            return -1;
        }
        MemorySegment cached = xbzrleCache.get(cacheKey);
        int length = Xbzrle.encode(cached, pageCopySegment, TargetPage.SIZE, encoded, TargetPage.SIZE);
        if (length < 0) {
            stats.xbzrleOverflow.incrementAndGet();
        }
        if (length != 0 && !lastStage) {
            MemorySegment.copy(pageCopySegment, 0, cached, 0, TargetPage.SIZE);
        }
        return length;
    }

    private void writeHeader(MigrationOutput out, RamBlock block, long offset, int flags) throws IOException {
        if (block == lastSentBlock) {
            out.putBe64(offset | flags | RamFlags.CONTINUE);
        } else {
            out.putBe64(offset | flags);
            out.putCountedString(block.id());
            lastSentBlock = block;
        }
    }

    private static long nextSetBit(long[] words, long from) {
        int word = (int) (from >>> 6);
        if (word >= words.length) {
            return -1;
        }
        long bits = words[word] & (-1L << from);
        while (true) {
            if (bits != 0) {
                return ((long) word << 6) + Long.numberOfTrailingZeros(bits);
            }
            if (++word == words.length) {
                return -1;
            }
            bits = words[word];
        }
    }
}
