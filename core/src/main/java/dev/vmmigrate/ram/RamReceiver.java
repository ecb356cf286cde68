package dev.vmmigrate.ram;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * The loading half of QEMU's ram.c (ram_load_precopy): reads RAM records into the blocks the
 * resolver gives, checking every offset against its block, until EOS.
 */
final class RamReceiver {
    private final RamBlockResolver resolver;
    /** Blocks announced by MEM_SIZE, by id, with the counts inspect reports. */
    private final Map<String, ReceivedBlock> announced = new LinkedHashMap<>();
    private ReceivedBlock lastBlock;
    /**
     * Bytes of RAM announced so far, over every START: what the resolver's ceiling is checked
     * against. Volatile for progress output on another thread; only the load writes it.
     */
    private volatile long announcedTotal;
    /**
     * Page records loaded, read by progress output on another thread. One writer (the load):
     * a release store per page, not a locked add.
     */
    private final java.util.concurrent.atomic.AtomicLong loadedPages = new java.util.concurrent.atomic.AtomicLong();
    private final byte[] encoded = new byte[TargetPage.SIZE];
    private final byte[] page = new byte[TargetPage.SIZE];
    /** Set when the stream announced zstd pages (vm-migrate/capabilities). */
    private ZstdPages zstd;
    /** QEMU's multifd channels, when this receiver takes them; null otherwise. */
    private SideChannels sideChannels;
    /**
     * The source marks its sync points with MULTIFD_FLUSH records (QEMU 8.0 and later); before
     * the first one, every EOS is one (QEMU 7.2, and later ones with
     * multifd-flush-after-each-section on), as ram_load_precopy decides from its own setting.
     */
    private boolean flushRecordsSeen;

    /**
     * One announced block and what arrived for it; {@code block} is null when only counting. The
     * bitmaps are updated atomically: multifd channels write pages of one block at once.
     */
    static final class ReceivedBlock implements SideChannels.PageTarget {
        private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
        final String id;
        final long length;
        final RamBlock block;
        /**
         * For a block that was {@linkplain RamBlock#untouched() untouched} when announced: the
         * pages this load wrote. Every other page still reads as zero, so a zero page there
         * needs nothing, not even the read that would fault it in. Null otherwise.
         */
        final long[] written;
        /**
         * The pages any record filled (QEMU's receivedmap), for a resumed migration's
         * RECV_BITMAP; null when only counting.
         */
        final long[] received;
        /**
         * For a fresh block (as {@code written}): each page's CRC32C as this load wrote it, for
         * the destination's digest; null otherwise.
         */
        final PageCrcs crcs;
        long zeroPages;
        long normalPages;
        /** Pages the multifd channels loaded (several threads). */
        final LongAdder channelZeroPages = new LongAdder();
        final LongAdder channelNormalPages = new LongAdder();

        ReceivedBlock(String id, long length, RamBlock block) {
            this.id = id;
            this.length = length;
            this.block = block;
            this.written = block != null && block.untouched() ? new long[(int) ((block.pageCount() + 63) >>> 6)] : null;
            this.received = block != null ? new long[(int) ((block.pageCount() + 63) >>> 6)] : null;
            this.crcs = written != null ? new PageCrcs(block.pageCount()) : null;
        }

        /** The page at {@code offset} now holds what the stream sent for it, just written. */
        void received(long offset) {
            if (crcs != null) {
                crcs.wrote(offset >>> TargetPage.BITS, block.memory().asSlice(offset, TargetPage.SIZE));
            }
            alreadyHeld(offset);
        }

        /** The page at {@code offset} held what the stream sent for it already (zero): nothing was written. */
        private void alreadyHeld(long offset) {
            long page = offset >>> TargetPage.BITS;
            WORDS.getAndBitwiseOr(received, (int) (page >>> 6), 1L << page);
            block.arrived(page); // after the page was written: a postcopy guest may touch it now
        }

        /**
         * The page at {@code offset} is about to be written. Its first write into fresh memory
         * backs it with one call rather than a page fault ({@link RamBlock#populate}): 1.4-1.9
         * times faster per page on a VM, measured in C.
         */
        void writing(long offset) {
            writing(offset, 1);
        }

        /** Marks {@code page} written; true when it was not before. Only for a fresh block. */
        private boolean firstWrite(long page) {
            long bit = 1L << page;
            return ((long) WORDS.getAndBitwiseOr(written, (int) (page >>> 6), bit) & bit) == 0;
        }

        /** Makes the page at {@code offset} all {@code fill} bytes, touching it only when needed. */
        void fill(long offset, int fill) {
            if (fill == 0) {
                if (written != null) {
                    long page = offset >>> TargetPage.BITS;
                    if (((long) WORDS.getAcquire(written, (int) (page >>> 6)) & (1L << page)) == 0) {
                        alreadyHeld(offset);
                        return; // never written: still zero
                    }
                } else if (block.isZeroPage(offset >>> TargetPage.BITS)) {
                    alreadyHeld(offset);
                    return; // writing zeros over zeros would fault the page in; QEMU skips it too
                }
            }
            writing(offset);
            block.memory().asSlice(offset, TargetPage.SIZE).fill((byte) fill);
            received(offset);
        }

        @Override
        public String id() {
            return id;
        }

        @Override
        public long length() {
            return length;
        }

        @Override
        public void readPages(long[] offsets, MigrationInput in) throws IOException {
            if (block == null) {
                in.skip((long) offsets.length * TargetPage.SIZE);
            } else {
                ByteBuffer[] runs = new ByteBuffer[offsets.length];
                int count = 0;
                for (int i = 0; i < offsets.length; ) {
                    int run = runLength(offsets, i);
                    writing(offsets[i], run);
                    runs[count++] = block.memory().asSlice(offsets[i], (long) run << TargetPage.BITS).asByteBuffer();
                    i += run;
                }
                in.readFully(count == runs.length ? runs : Arrays.copyOf(runs, count));
                for (long offset : offsets) {
                    received(offset);
                }
            }
            channelNormalPages.add(offsets.length);
        }

        @Override
        public void writePages(long[] offsets, MemorySegment contents) {
            if (block != null) {
                for (int i = 0; i < offsets.length; ) {
                    int run = runLength(offsets, i);
                    writing(offsets[i], run);
                    MemorySegment.copy(contents, (long) i << TargetPage.BITS, block.memory(), offsets[i],
                            (long) run << TargetPage.BITS);
                    i += run;
                }
                for (long offset : offsets) {
                    received(offset);
                }
            }
            channelNormalPages.add(offsets.length);
        }

        /** How many pages from {@code offsets[from]} on are adjacent in the block, in order. */
        private static int runLength(long[] offsets, int from) {
            int run = 1;
            while (from + run < offsets.length && offsets[from + run] == offsets[from] + ((long) run << TargetPage.BITS)) {
                run++;
            }
            return run;
        }

        /**
         * The {@code pages} pages from {@code offset} on are about to be written: if any of them
         * is fresh, the run is backed in one call rather than a fault per page.
         */
        private void writing(long offset, int pages) {
            if (written == null) {
                return; // not fresh memory: its pages may be backed already
            }
            long first = offset >>> TargetPage.BITS;
            boolean any = false;
            for (long page = first; page < first + pages; page++) {
                any |= firstWrite(page);
            }
            if (any) {
                block.populate(offset, (long) pages << TargetPage.BITS);
            }
        }

        @Override
        public void zeroPage(long offset) {
            if (block != null) {
                fill(offset, 0);
            }
            channelZeroPages.increment();
        }
    }

    RamReceiver(RamBlockResolver resolver) {
        this.resolver = resolver;
    }

    /** The stream announced zstd-compressed pages. */
    void expectCompressedPages() {
        if (zstd == null) {
            zstd = ZstdPages.forDecompression();
        }
    }

    /** Takes QEMU's multifd channels' pages beside the stream, and honours its sync points. */
    void acceptSideChannels(SideChannels channels) {
        sideChannels = channels;
    }

    boolean takesSideChannels() {
        return sideChannels != null;
    }

    void close() {
        if (zstd != null) {
            zstd.close();
            zstd = null; // a later stream must announce compression again
        }
    }

    List<RamBlockSummary> summary() {
        return announced.values().stream()
                .map(b -> new RamBlockSummary(b.id, b.length, b.zeroPages + b.channelZeroPages.sum(),
                        b.normalPages + b.channelNormalPages.sum()))
                .toList();
    }

    /** By announced block, the pages received so far (copies), for a resumed migration. */
    Map<String, long[]> receivedPages() {
        Map<String, long[]> pages = new LinkedHashMap<>();
        announced.values().stream().filter(b -> b.received != null)
                .forEach(b -> pages.put(b.id, b.received.clone()));
        return pages;
    }

    /** By block the load found fresh, the CRC32C of each page as this load wrote it. */
    Map<RamBlock, PageCrcs> pageCrcs() {
        Map<RamBlock, PageCrcs> crcs = new LinkedHashMap<>();
        announced.values().stream().filter(b -> b.crcs != null).forEach(b -> crcs.put(b.block, b.crcs));
        return crcs;
    }

    long announcedBytes() {
        return announcedTotal;
    }

    long loadedPages() {
        return loadedPages.get();
    }

    /** Reads records up to and including EOS. */
    void load(MigrationInput in) throws IOException {
        while (loadRecord(in)) {
            // one record each
        }
    }

    /**
     * Reads one record; false at EOS. A method per record, not one long loop, so the JIT
     * compiles it by invocation count as soon as it is hot, without waiting for a loop to be
     * replaced on the stack.
     */
    private boolean loadRecord(MigrationInput in) throws IOException {
        long at = in.position();
        long word = in.readBe64();
        int flags = (int) (word & RamFlags.MASK);
        long offset = word & ~RamFlags.MASK;
        int kind = flags & ~RamFlags.CONTINUE;
        switch (kind) {
            case RamFlags.MEM_SIZE -> {
                readBlockList(in, offset, at);
                return true;
            }
            case RamFlags.ZERO -> {
                ReceivedBlock target = blockFor(in, flags, offset, at);
                int fill = in.readU8();
                if (target.block != null) {
                    target.fill(offset, fill);
                }
                target.zeroPages++;
            }
            case RamFlags.PAGE -> {
                ReceivedBlock target = blockFor(in, flags, offset, at);
                if (target.block != null) {
                    target.writing(offset);
                    in.readInto(target.block.memory(), offset, TargetPage.SIZE);
                    target.received(offset);
                } else {
                    in.skip(TargetPage.SIZE);
                }
                target.normalPages++;
            }
            case RamFlags.XBZRLE -> loadXbzrle(in, blockFor(in, flags, offset, at), offset);
            case RamFlags.COMPRESS_PAGE -> loadCompressed(in, blockFor(in, flags, offset, at), offset, at);
            case RamFlags.EOS -> {
                if (sideChannels != null && !flushRecordsSeen) {
                    sideChannels.sync(at); // 7.2's ram_load_precopy: multifd_recv_sync_main at every EOS
                }
                return false;
            }
            case RamFlags.MULTIFD_FLUSH -> {
                if (sideChannels == null) {
                    throw new StreamFormatException("RAM record MULTIFD_FLUSH: the source used QEMU's "
                            + "multifd capability and sent most pages on extra connections (receive takes them with "
                            + "--capability multifd and its --multifd-channels; inspect sees only this stream)", at);
                }
                flushRecordsSeen = true;
                sideChannels.sync(at);
            }
            default -> throw new StreamFormatException(String.format(
                    "unknown RAM record flags 0x%x (record 0x%016x)", flags, word), at);
        }
        loadedPages.setRelease(loadedPages.getPlain() + 1); // every other record is one page
        return true;
    }

    /** QEMU's load_xbzrle: u8 encoding flag, be16 length, the encoding, applied to the page in place. */
    private void loadXbzrle(MigrationInput in, ReceivedBlock target, long offset) throws IOException {
        long at = in.position();
        int encoding = in.readU8();
        if (encoding != RamFlags.ENCODING_FLAG_XBZRLE) {
            throw new StreamFormatException(String.format("unknown XBZRLE encoding flag 0x%02x", encoding), at);
        }
        int length = in.readBe16();
        if (length > TargetPage.SIZE) {
            throw new StreamFormatException("XBZRLE encoding of " + length + " bytes exceeds a page", at + 1);
        }
        in.readInto(MemorySegment.ofArray(encoded), 0, length);
        target.normalPages++;
        if (target.block == null) {
            return;
        }
        target.writing(offset);
        try {
            Xbzrle.decode(encoded, length, target.block.memory().asSlice(offset, TargetPage.SIZE), TargetPage.SIZE);
        } catch (IllegalArgumentException e) {
            throw new StreamFormatException("bad XBZRLE page: " + e.getMessage(), at);
        }
        target.received(offset);
    }

    /** A zstd page: be32 length then the frame; only valid when the stream announced compression. */
    private void loadCompressed(MigrationInput in, ReceivedBlock target, long offset, long at) throws IOException {
        if (zstd == null) {
            throw new StreamFormatException("compressed page, but the stream did not announce zstd compression "
                    + "(QEMU's zlib compress capability is not supported)", at);
        }
        long lengthAt = in.position();
        int length = in.readBe32();
        if (length <= 0 || length > TargetPage.SIZE) {
            throw new StreamFormatException("compressed page of " + Integer.toUnsignedString(length) + " bytes", lengthAt);
        }
        in.readInto(MemorySegment.ofArray(encoded), 0, length);
        target.normalPages++;
        if (target.block == null) {
            return;
        }
        try {
            zstd.decompress(encoded, length, page);
        } catch (IllegalArgumentException e) {
            throw new StreamFormatException(e.getMessage(), lengthAt + 4);
        }
        target.writing(offset);
        MemorySegment.copy(MemorySegment.ofArray(page), 0, target.block.memory(), offset, TargetPage.SIZE);
        target.received(offset);
    }

    private void readBlockList(MigrationInput in, long total, long at) throws IOException {
        resolver.checkTotal(announcedTotal, total, at); // before anything is mapped
        long announcedBytes = 0;
        while (announcedBytes < total) {
            long blockAt = in.position();
            String id = in.readCountedString();
            long length = in.readBe64();
            if (length <= 0 || length % TargetPage.SIZE != 0 || length > total - announcedBytes) {
                throw new StreamFormatException("RAM block " + StreamText.quote(id) + " announced with bad length "
                        + Long.toUnsignedString(length) + " (total " + total + ")", blockAt);
            }
            if (announced.containsKey(id)) {
                throw new StreamFormatException("RAM block " + StreamText.quote(id) + " announced twice", blockAt);
            }
            announcedTotal += length;
            announced.put(id, new ReceivedBlock(id, length, resolver.resolve(id, length, blockAt)));
            announcedBytes += length;
        }
        if (announcedBytes != total) {
            throw new StreamFormatException("RAM blocks add up to " + announcedBytes
                    + " bytes, MEM_SIZE says " + total, at);
        }
        if (sideChannels != null) {
            sideChannels.blocksAnnounced(Map.copyOf(announced));
        }
    }

    private ReceivedBlock blockFor(MigrationInput in, int flags, long offset, long at) throws IOException {
        ReceivedBlock target;
        if ((flags & RamFlags.CONTINUE) != 0) {
            if (lastBlock == null) {
                throw new StreamFormatException("RAM record continues a block but none came before", at);
            }
            target = lastBlock;
        } else {
            String id = in.readCountedString();
            target = announced.get(id);
            if (target == null) {
                throw new StreamFormatException("RAM record for block " + StreamText.quote(id)
                        + " that MEM_SIZE did not announce", at);
            }
            lastBlock = target;
        }
        if (offset < 0 || offset > target.length - TargetPage.SIZE) {
            throw new StreamFormatException(String.format("RAM offset 0x%x is beyond block %s (%d bytes)",
                    offset, StreamText.quote(target.id), target.length), at);
        }
        return target;
    }
}
