package dev.vmmigrate.ram;

import dev.vmmigrate.stream.TargetPage;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * The CRC32C of every page of a block as the load wrote it, taken while the page is still in the
 * cache: the destination's RAM digest ({@link dev.vmmigrate.ownsections.IntegrityDigest}) then
 * combines these instead of reading all of RAM again at the switchover, which took as long as
 * the source's own digest and came after it (about 40 ms of every 1 GiB migration's downtime
 * here). Only for a block that was fresh when the load began, whose pages the load alone writes
 * (every page it never wrote is zero) and only until the load is checked.
 *
 * <p>Combining uses CRC32C's linearity: with equal initial value and final xor, as CRC32C has,
 * {@code crc(A || B) = shift(crc(A), |B|) ^ crc(B)}, where {@code shift} runs the register over
 * |B| zero bytes: for a page, a fixed linear map on 32 bits, applied here with four table
 * lookups (the same algebra as zlib's crc32_combine).
 *
 * <p>Pages are recorded by several multifd channels at once, each page by one of them; the main
 * stream's sync point, which the load passes before the digest, publishes them.
 */
public final class PageCrcs {
    /** CRC32C of a page of zero bytes. */
    public static final int ZERO_PAGE_CRC;
    /** CRC32C's reflected polynomial (Castagnoli). */
    private static final int POLY = 0x82F63B78;
    /** The page shift by bytes of the register: SHIFT[k][b] is the map applied to {@code b << 8k}. */
    private static final int[][] SHIFT = new int[4][256];

    static {
        CRC32C zero = new CRC32C();
        zero.update(new byte[TargetPage.SIZE]);
        ZERO_PAGE_CRC = (int) zero.getValue();
        // The map for one zero bit, as columns: bit 0 feeds the polynomial back, the others move down.
        int[] map = new int[32];
        map[0] = POLY;
        for (int bit = 1; bit < 32; bit++) {
            map[bit] = 1 << (bit - 1);
        }
        for (int doubling = 0; doubling < TargetPage.BITS + 3; doubling++) { // 2^15 bits: one page
            map = square(map);
        }
        for (int k = 0; k < 4; k++) {
            for (int b = 0; b < 256; b++) {
                SHIFT[k][b] = apply(map, b << (8 * k));
            }
        }
    }

    private final int[] crcs;

    /** Every page zero, as a fresh block reads. */
    public PageCrcs(long pages) {
        if (pages < 0 || pages > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("page count " + pages + " is not within 0.." + Integer.MAX_VALUE);
        }
        crcs = new int[(int) pages];
        Arrays.fill(crcs, ZERO_PAGE_CRC);
    }

    /** Page {@code page} now holds {@code contents} (one page). */
    public void wrote(long page, MemorySegment contents) {
        CRC32C crc = new CRC32C();
        crc.update(contents.asSlice(0, TargetPage.SIZE).asByteBuffer());
        crcs[Math.toIntExact(page)] = (int) crc.getValue();
    }

    /** CRC32C of {@code count} pages from {@code first} on, as if read in one go; 0 for none. */
    public long crc(long first, long count) {
        if (count == 0) {
            return 0;
        }
        int from = Math.toIntExact(first);
        int to = Math.toIntExact(first + count);
        int crc = crcs[from];
        for (int page = from + 1; page < to; page++) {
            crc = shiftOverPage(crc) ^ crcs[page];
        }
        return Integer.toUnsignedLong(crc);
    }

    /** {@code crc(A)} to its share of {@code crc(A || P)} for a page P: the register run over a page of zeros. */
    static int shiftOverPage(int crc) {
        return SHIFT[0][crc & 0xff] ^ SHIFT[1][(crc >>> 8) & 0xff] ^ SHIFT[2][(crc >>> 16) & 0xff]
                ^ SHIFT[3][crc >>> 24];
    }

    private static int apply(int[] map, int vector) {
        int result = 0;
        for (int bit = 0; vector != 0; bit++, vector >>>= 1) {
            if ((vector & 1) != 0) {
                result ^= map[bit];
            }
        }
        return result;
    }

    private static int[] square(int[] map) {
        int[] squared = new int[32];
        for (int bit = 0; bit < 32; bit++) {
            squared[bit] = apply(map, map[bit]);
        }
        return squared;
    }
}
