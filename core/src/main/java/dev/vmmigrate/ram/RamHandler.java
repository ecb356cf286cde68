package dev.vmmigrate.ram;

import dev.vmmigrate.savevm.IterativeHandler;
import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/** The {@code ram} section (version 4 as in QEMU 7.2): sending and loading guest RAM. */
public final class RamHandler implements IterativeHandler {
    public static final String IDSTR = "ram";
    public static final int VERSION = 4;

    private final RamStats stats = new RamStats();
    private final List<RamBlock> blocks;
    private final RamReceiver receiver;
    /** The sender of the latest save; replaced, and options read for it, under this handler's lock. */
    private volatile RamSender sender;
    private volatile RamSaveOptions options = RamSaveOptions.PLAIN;
    /** Where the next save sends whole pages (multifd), or null: the main stream. */
    private volatile PageChannels pageChannels;

    /** A handler for a guest's blocks: sends them, or loads into them after checking names and lengths. */
    public RamHandler(List<RamBlock> blocks) {
        this(blocks, RamBlockResolver.of(blocks));
    }

    /** A load-only handler whose blocks come from {@code resolver} as the stream announces them. */
    public RamHandler(RamBlockResolver resolver) {
        this(List.of(), resolver);
    }

    private RamHandler(List<RamBlock> blocks, RamBlockResolver resolver) {
        this.blocks = List.copyOf(blocks);
        this.receiver = new RamReceiver(resolver);
    }

    @Override
    public String idstr() {
        return IDSTR;
    }

    @Override
    public int version() {
        return VERSION;
    }

    public RamStats stats() {
        return stats;
    }

    /** Total guest RAM ({@code ram.total}). */
    public long totalBytes() {
        return blocks.stream().mapToLong(RamBlock::length).sum();
    }

    /** Dirty bytes not yet sent ({@code ram.remaining}). */
    public long remainingBytes() {
        return sender == null ? totalBytes() : sender.remainingBytes();
    }

    /** Blocks announced by the stream, with page counts, after a load. */
    public List<RamBlockSummary> loadedBlocks() {
        return receiver.summary();
    }

    /** How the next save sends pages (capabilities); set before the migration starts. */
    public synchronized void configure(RamSaveOptions next) {
        options = next;
    }

    /**
     * The seeds' xbzrle_cache_resize: with XBZRLE on, the next save's cache and a running save's
     * live cache get {@code bytes} at once (the live one empty, see
     * {@link RamSender#resizeXbzrleCache}); any thread. Without XBZRLE there is no cache to size.
     *
     * @param bytes the new size, a power of two of pages (as {@link XbzrleCache#validateSize} gives)
     */
    public synchronized void resizeXbzrleCache(long bytes) {
        if (!options.xbzrle()) {
            return;
        }
        options = new RamSaveOptions(bytes, options.compressLevel(), options.resumable());
        RamSender live = sender;
        if (live != null) {
            live.resizeXbzrleCache(bytes);
        }
    }

    /**
     * The next save hands its whole pages to {@code channels} (QEMU's multifd channels) and marks
     * sync points on them; null sends them on the main stream. Set before the migration starts.
     */
    public void sendPagesThrough(PageChannels channels) {
        pageChannels = channels;
    }

    public RamSaveOptions options() {
        return options;
    }

    /**
     * The next load takes pages from QEMU's multifd channels too, and waits for them at the
     * stream's sync points (MULTIFD_FLUSH, or EOS from a 7.2 source). Call before the load.
     */
    public void acceptSideChannels(SideChannels channels) {
        receiver.acceptSideChannels(channels);
    }

    /** Whether the next load takes pages from multifd channels ({@link #acceptSideChannels}). */
    public boolean takesSideChannels() {
        return receiver.takesSideChannels();
    }

    /** The stream announced zstd-compressed pages: the loader must expect them. */
    public void expectCompressedPages() {
        receiver.expectCompressedPages();
    }

    @Override
    public void saveSetup(MigrationOutput out) throws IOException {
        if (blocks.isEmpty()) {
            throw new IllegalStateException("a load-only RAM handler cannot save");
        }
        RamSender next;
        synchronized (this) { // a resize now goes to this sender, or came before its options were read
            next = new RamSender(blocks, stats, options, pageChannels);
            sender = next;
        }
        next.setup(out);
    }

    @Override
    public void cleanup() {
        if (sender != null) {
            sender.close();
        }
        receiver.close();
    }

    @Override
    public long pending(long threshold) {
        if (sender.remainingBytes() < threshold) {
            sender.sync();
        }
        return sender.remainingBytes();
    }

    @Override
    public boolean saveIterate(MigrationOutput out) throws IOException {
        return sender.sendDirty(out, true);
    }

    @Override
    public void saveComplete(MigrationOutput out) throws IOException {
        sender.enterLastStage();
        sender.sync();
        sender.sendDirty(out, false);
    }

    /** The switch to postcopy: by block, the runs of dirty pages the destination must drop. */
    public java.util.Map<String, List<dev.vmmigrate.savevm.PostcopyDiscard.Range>> postcopyDiscards() {
        return sender.dirtyRuns();
    }

    /** Postcopy: sends the still-dirty pages of a destination's request at once; the caller frames the section. */
    public long sendRequested(MigrationOutput out, String block, long start, long length) throws IOException {
        return sender.sendRequested(out, block, start, length);
    }

    /**
     * A resumed migration goes on (the save must be {@linkplain RamSaveOptions#resumable
     * resumable}): every page sent at or after stream offset {@code wholeUpTo}, which the
     * destination did not read whole, and every sent page its {@code received} bitmaps lack is
     * dirty again. The XBZRLE cache starts empty: it may hold pages the destination never got.
     *
     * @return the pages made dirty again
     * @throws IllegalArgumentException when a bitmap is missing or does not fit its block
     */
    public long resume(long wholeUpTo, java.util.Map<String, long[]> received) {
        return sender.resume(wholeUpTo, received);
    }

    /** Postcopy recovery: see {@link RamSender#reloadFromReceived}; returns the pages lost with the old link. */
    public long reloadFromReceived(java.util.Map<String, long[]> received) {
        return sender.reloadFromReceived(received);
    }

    /** The ids of the RAM blocks this handler saves, in order (postcopy recovery asks for each one's bitmap). */
    public List<String> blockIds() {
        return blocks.stream().map(RamBlock::id).toList();
    }

    @Override
    public java.util.Map<String, long[]> receivedPages() {
        return receiver.receivedPages();
    }

    /**
     * By block the load found fresh, the CRC32C of each page as it wrote it ({@link PageCrcs}):
     * what the destination's digest combines instead of reading those blocks again.
     */
    public Map<RamBlock, PageCrcs> loadedPageCrcs() {
        return receiver.pageCrcs();
    }

    @Override
    public long announcedRamBytes() {
        return receiver.announcedBytes();
    }

    @Override
    public long loadedPages() {
        return receiver.loadedPages();
    }

    @Override
    public void load(MigrationInput in, SectionType type, int version) throws IOException {
        if (version != VERSION) {
            throw new StreamFormatException("ram section version " + version + ", expected " + VERSION,
                    in.position());
        }
        receiver.load(in);
    }
}
