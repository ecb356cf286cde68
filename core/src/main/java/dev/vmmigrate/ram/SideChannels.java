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

        /** Fills the page at {@code offset} with the next page of {@code in}. */
        void writePage(long offset, dev.vmmigrate.stream.MigrationInput in) throws IOException;

        /** Fills the page at {@code offset} with {@code contents}' first page (a decompressed one). */
        void writePage(long offset, java.lang.foreign.MemorySegment contents);

        /** Makes the page at {@code offset} all zero (touching it only if it may not be). */
        void zeroPage(long offset);

        /**
         * The {@code pages} pages from {@code offset} are about to be written: back them with
         * memory in one call ({@link dev.vmmigrate.ram.RamBlock#populate}), not a fault per page.
         */
        void populate(long offset, int pages);
    }
}
