package dev.vmmigrate.ram;

import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Which pages of anonymous guest RAM the process has never backed, read from Linux's
 * {@code /proc/self/pagemap}: a private anonymous page that is neither present nor swapped out
 * was never written (or was discarded), so it reads as zero. The sender then knows such a zero
 * page without reading it: scanning a half-zero 1 GiB guest's zero pages took as much of the
 * sending thread as the socket writes did.
 *
 * <p>Looks up a window of {@link #WINDOW} pages at a time (one read of 4 KiB of pagemap per
 * 2 MiB of RAM), so a scan in address order costs one read per window. A window is a snapshot:
 * a page written after it was read still looks never written until {@link #forget()}. One
 * instance per thread. Answers "unknown" (false) for anything it cannot tell, and {@link #open}
 * returns null where there is no pagemap.
 */
final class PageMap implements AutoCloseable {
    static final int WINDOW = 512;
    private static final long PRESENT = 1L << 63;
    private static final long SWAPPED = 1L << 62;
    private static final Path PAGEMAP = Path.of("/proc/self/pagemap");

    private final FileChannel channel;
    private final ByteBuffer entries = ByteBuffer.allocateDirect(WINDOW * Long.BYTES).order(ByteOrder.nativeOrder());
    /** Virtual page number of the window's first entry; -1 when none is loaded. */
    private long windowStart = -1;
    private int windowLength;

    private PageMap(FileChannel channel) {
        this.channel = channel;
    }

    /** The process's pagemap, or null when it cannot be read (not Linux, or /proc not mounted). */
    static PageMap open() {
        try {
            return new PageMap(FileChannel.open(PAGEMAP, StandardOpenOption.READ));
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return null;
        }
    }

    /**
     * True when the page at virtual address {@code address} (page-aligned, in anonymous private
     * memory) has never been backed, so it reads as zero; false when it is backed, or unknown.
     */
    boolean neverBacked(long address) {
        long page = address >>> TargetPage.BITS;
        if (page < windowStart || page >= windowStart + windowLength) {
            if (!load(page)) {
                return false;
            }
        }
        long entry = entries.getLong((int) (page - windowStart) * Long.BYTES);
        return (entry & (PRESENT | SWAPPED)) == 0;
    }

    /**
     * Forgets the window read last: what it says is a snapshot, and a page written since then
     * must be read again. Call it before every scan that must see writes made before it began.
     */
    void forget() {
        windowStart = -1;
        windowLength = 0;
    }

    private boolean load(long page) {
        long start = page - page % WINDOW;
        entries.clear();
        try {
            while (entries.hasRemaining()) {
                int read = channel.read(entries, start * Long.BYTES + entries.position());
                if (read <= 0) {
                    break;
                }
            }
        } catch (IOException e) {
            windowStart = -1;
            windowLength = 0;
            return false;
        }
        windowLength = entries.position() / Long.BYTES;
        windowStart = start;
        return page < start + windowLength;
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // read-only: nothing to lose
        }
    }
}
