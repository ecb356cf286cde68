package dev.vmmigrate.block;

/**
 * The {@code block} section's record format (QEMU 7.2 migration/block.c). Every record begins with
 * be64 {@code (sector << 9) | flags}; sectors are 512 bytes, so the flags live in the low 9 bits.
 * <ul>
 *   <li>DEVICE_BLOCK: u8 length + device name follow, then {@link Disk#CHUNK_SIZE} bytes of data
 *       (always a whole chunk, even for a disk's short last chunk) unless ZERO_BLOCK is also set;
 *   <li>PROGRESS: the "sector" is the bulk phase's percentage;
 *   <li>EOS: ends every START, PART and END payload.
 * </ul>
 */
public final class BlockFlags {
    /** A chunk of one device: name and (unless ZERO_BLOCK) data follow. */
    public static final int DEVICE_BLOCK = 0x01;
    /** End of this section's payload. */
    public static final int EOS = 0x02;
    /** Bulk-phase progress in percent, in place of the sector number. */
    public static final int PROGRESS = 0x04;
    /** With DEVICE_BLOCK: the chunk is all zeros and no data follows (capability zero-blocks). */
    public static final int ZERO_BLOCK = 0x08;

    /** Bits of a sector number (BDRV_SECTOR_BITS): the flags are the bits below. */
    public static final int SECTOR_BITS = 9;
    /** Mask of the flag bits. */
    public static final int FLAG_MASK = (1 << SECTOR_BITS) - 1;
    /** Sectors per chunk (BDRV_SECTORS_PER_DIRTY_CHUNK). */
    public static final long SECTORS_PER_CHUNK = Disk.CHUNK_SIZE >> SECTOR_BITS;

    static final int KNOWN = DEVICE_BLOCK | EOS | PROGRESS | ZERO_BLOCK;

    private BlockFlags() {
    }

    /** The record word for a chunk at byte {@code offset} (a multiple of 512) with {@code flags}. */
    public static long word(long offset, int flags) {
        return (offset >>> SECTOR_BITS) << SECTOR_BITS | flags;
    }
}
