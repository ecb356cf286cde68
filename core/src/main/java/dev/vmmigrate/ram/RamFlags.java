package dev.vmmigrate.ram;

import dev.vmmigrate.stream.TargetPage;

/**
 * Flags in the low bits of each RAM record's be64 {@code offset | flags} (RAM_SAVE_FLAG_* of
 * QEMU's ram.c). The offset is page aligned, so the flags fit below the page size.
 */
public final class RamFlags {
    /** A page filled with one byte (always 0 from QEMU 7.2): the fill byte follows. */
    public static final int ZERO = 0x02;
    /** START only: total RAM size in the offset bits, then the block list. */
    public static final int MEM_SIZE = 0x04;
    /** A whole page follows. */
    public static final int PAGE = 0x08;
    /** End of this section's RAM records. */
    public static final int EOS = 0x10;
    /** Same block as the previous record: its name is left out. */
    public static final int CONTINUE = 0x20;
    /** An XBZRLE-encoded page follows. */
    public static final int XBZRLE = 0x40;
    /** The byte after an XBZRLE record's header: the encoding (QEMU's ENCODING_FLAG_XBZRLE). */
    public static final int ENCODING_FLAG_XBZRLE = 0x01;
    /** RDMA's hook; never valid on our transports. */
    public static final int HOOK = 0x80;
    /**
     * A compressed page: be32 length then the data. QEMU's is zlib; ours is zstd, announced by
     * the {@code vm-migrate/capabilities} section so a receiver never guesses.
     */
    public static final int COMPRESS_PAGE = 0x100;

    /**
     * QEMU 8.0+ with the multifd capability: a sync point, the pages sent over the multifd
     * channels up to here must all be in before the stream goes on (RAM_SAVE_FLAG_MULTIFD_FLUSH).
     * Nothing follows it. Refused, naming the option, by a receiver without multifd channels.
     */
    public static final int MULTIFD_FLUSH = 0x200;

    /** The bits that may hold flags: everything below the page size. */
    public static final long MASK = TargetPage.SIZE - 1;

    private RamFlags() {
    }
}
