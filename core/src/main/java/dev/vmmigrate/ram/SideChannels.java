package dev.vmmigrate.ram;

import java.io.IOException;
import java.util.Map;

/**
 * Pages that arrive beside the main stream, on QEMU's multifd channels: the main stream's RAM
 * section tells them which blocks exist and where they must have caught up (QEMU's
 * multifd_recv_sync_main, called from ram_load_precopy).
 */
public interface SideChannels {
    /** MEM_SIZE announced these blocks (by id); the channels write into them from now on. */
    void blocksAnnounced(Map<String, ? extends PageTarget> blocks);

    /**
     * The main stream reached a sync point at stream offset {@code offset}: returns once every
     * channel has delivered all its pages sent before it (and stands still until the main stream
     * has passed it), or throws when a channel failed or never got there.
     */
    void sync(long offset) throws IOException;

    /** One announced block, as a channel writes into it. Safe from several threads at once. */
    interface PageTarget {
        String id();

        /** Bytes in the block: every page's offset is below this. */
        long length();

        /**
         * Fills the pages at {@code offsets}, in order, with the next {@code offsets.length}
         * pages of {@code in}: straight into guest memory where the input allows, each run of
         * adjacent pages backed first in one call ({@link dev.vmmigrate.ram.RamBlock#populate}),
         * not a fault per page.
         */
        void readPages(long[] offsets, dev.vmmigrate.stream.MigrationInput in) throws IOException;

        /** Fills the pages at {@code offsets} with {@code contents}' pages, in order (decompressed ones). */
        void writePages(long[] offsets, java.lang.foreign.MemorySegment contents);

        /** Makes the page at {@code offset} all zero (touching it only if it may not be). */
        void zeroPage(long offset);
    }
}
