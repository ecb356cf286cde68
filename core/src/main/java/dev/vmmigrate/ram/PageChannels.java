package dev.vmmigrate.ram;

import java.io.IOException;

/**
 * Where a sender's whole pages go instead of the main stream: QEMU's multifd channels (the
 * sending counterpart of {@link SideChannels}). The main stream keeps the section framing, the
 * zero pages and the sync points; {@link #sync} marks one on every channel.
 */
public interface PageChannels {
    /**
     * Queues the page at {@code offset} of {@code block} for a channel; blocks while every
     * channel is busy. The page is read when its packet is written, not now.
     *
     * @return bytes handed to the channels by this call (a whole packet when it filled one), for
     *     the rate limit and the transferred count
     */
    long queuePage(RamBlock block, long offset) throws IOException;

    /**
     * QEMU's multifd_send_sync_main: sends what is queued and a SYNC packet on every channel,
     * and returns once each channel has written it.
     *
     * @return bytes handed to the channels by this call
     */
    long sync() throws IOException;

    /**
     * Whether the main stream marks each sync point with a MULTIFD_FLUSH record (QEMU 8.0 and
     * later with multifd-flush-after-each-section off); otherwise the destination syncs at
     * every EOS of the RAM section, as QEMU 7.2 does.
     */
    boolean flushRecords();
}
