package dev.vmmigrate.ram;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * XBZRLE ("XOR based zero run length encoding"), byte for byte as QEMU 7.2 encodes and decodes
 * a page against its previously sent copy (QEMU's migration/xbzrle.c, util/cutils.c).
 *
 * <p>The encoding is a sequence of pairs {@code zrun nzrun}: a zero run is the ULEB128 count of
 * bytes where old and new page agree (the XOR is zero); a non-zero run is the ULEB128 count of
 * bytes where they differ, followed by the <em>new</em> bytes of that run (not their XOR: QEMU
 * copies from the new page, and the decoder copies them straight into the page). A trailing zero
 * run is not written. Run lengths use QEMU's "small" ULEB128: one byte below 0x80, two bytes up
 * to 0x3fff, never more.
 *
 * <p>On the wire (the lead's part, listed here for reference) a record with the {@code 0x40}
 * flag carries: u8 encoding flag {@code 0x01}, be16 encoded length, then the encoding. QEMU's
 * destination refuses another flag byte, a length above the page size, and any encoding its
 * decoder refuses.
 *
 * <p>Stateless and thread-safe; no method keeps a reference to its arguments.
 */
public final class Xbzrle {
    /** The largest value QEMU's small ULEB128 holds: 14 bits. */
    public static final int ULEB128_SMALL_MAX = 0x3fff;

    /** The largest page the encoding can describe: every run length must fit 14 bits. */
    public static final int MAX_PAGE_SIZE = ULEB128_SMALL_MAX + 1;

    private static final ValueLayout.OfLong WORD =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long LOW7 = 0x7f7f7f7f7f7f7f7fL;

    private Xbzrle() {
    }

    /**
     * Encodes {@code newPage} against {@code oldPage} (QEMU's {@code xbzrle_encode_buffer}),
     * writing at most {@code maxLength} bytes to {@code dst}.
     *
     * <p>Returns the encoded length; {@code 0} when the pages are identical; {@code -1} on
     * overflow. Overflow follows QEMU's checks exactly, so the same pages give the same answer:
     * before each zero run and before each non-zero run's length at least 2 bytes must be left,
     * and a non-zero run's bytes must fit. (So an encoding that would end just short of
     * {@code maxLength} can still overflow when unchanged bytes follow its last run.) Where QEMU
     * would abort (a non-zero run longer than 0x3fff bytes, possible only with 16 KiB pages and a
     * {@code maxLength} above the page size) this returns {@code -1} so that the caller sends the
     * page whole.
     *
     * <p>Runs are found 8 bytes at a time; the output is the same as comparing byte by byte.
     *
     * @param pageSize a multiple of 8 up to {@link #MAX_PAGE_SIZE} (QEMU asserts the former)
     */
    public static int encode(MemorySegment oldPage, MemorySegment newPage, int pageSize, byte[] dst, int maxLength) {
        checkPageSize(pageSize);
        checkSegment(oldPage, pageSize, "old page");
        checkSegment(newPage, pageSize, "new page");
        Objects.requireNonNull(dst, "dst");
        if (maxLength < 0 || maxLength > dst.length) {
            throw new IllegalArgumentException("maxLength " + maxLength + " outside 0.." + dst.length);
        }
        int d = 0;
        int i = 0;
        while (i < pageSize) {
            if (d + 2 > maxLength) {
                return -1;
            }
            int zrunEnd = zeroRunEnd(oldPage, newPage, i, pageSize);
            int zrun = zrunEnd - i;
            i = zrunEnd;
            if (zrun == pageSize) {
                return 0; // unchanged
            }
            if (i == pageSize) {
                return d; // the last zero run is not written
            }
            d += uleb128EncodeSmall(dst, d, zrun);

            if (d + 2 > maxLength) {
                return -1;
            }
            int nzrunEnd = nonZeroRunEnd(oldPage, newPage, i, pageSize);
            int nzrun = nzrunEnd - i;
            if (nzrun > ULEB128_SMALL_MAX) {
                return -1; // QEMU would abort here; sending the page whole is always correct
            }
            d += uleb128EncodeSmall(dst, d, nzrun);
            if (d + nzrun > maxLength) {
                return -1;
            }
            MemorySegment.copy(newPage, ValueLayout.JAVA_BYTE, i, dst, d, nzrun);
            d += nzrun;
            i = nzrunEnd;
        }
        return d;
    }

    /**
     * Applies an encoding to {@code page} in place (QEMU's {@code xbzrle_decode_buffer}): each zero
     * run skips bytes, each non-zero run overwrites them. Refuses what QEMU's decoder refuses, with
     * a {@link MalformedEncodingException} naming the problem and the byte of the encoding where
     * it starts:
     * <ul>
     * <li>fewer than 2 bytes left where a zero run or a non-zero run begins (QEMU's rule, which also
     * catches a truncated encoding and trailing garbage);
     * <li>a run length of more than 2 ULEB128 bytes (more than 14 bits);
     * <li>a zero-length zero run anywhere but at the start;
     * <li>a zero-length non-zero run;
     * <li>a run that goes past the end of the page, or a non-zero run whose bytes are cut short.
     * </ul>
     * Stricter than QEMU in two ways: an empty encoding is refused (QEMU applies it as a no-op;
     * its encoder never produces one, since 0 means "unchanged, skip the page"), and the page is
     * checked whole before any byte is written, so a refused encoding leaves the page untouched
     * (QEMU stops part way).
     */
    public static void decode(byte[] src, int length, MemorySegment page, int pageSize) {
        checkPageSize(pageSize);
        checkSegment(page, pageSize, "page");
        Objects.requireNonNull(src, "src");
        if (length < 0 || length > src.length) {
            throw new IllegalArgumentException("length " + length + " outside 0.." + src.length);
        }
        if (length == 0) {
            throw new MalformedEncodingException("empty encoding (QEMU never sends one)", 0);
        }
        walk(src, length, null, pageSize);
        walk(src, length, page, pageSize);
    }

    /** One pass over the encoding: checks it, and applies it when {@code page} is not null. */
    private static void walk(byte[] src, int length, MemorySegment page, int pageSize) {
        int i = 0;
        int d = 0;
        while (i < length) {
            if (length - i < 2) {
                throw new MalformedEncodingException("truncated: " + bytes(length - i)
                        + " left where a zero run needs at least 2", i);
            }
            int packed = uleb128DecodeSmall(src, i, length);
            if (packed < 0) {
                throw new MalformedEncodingException("zero run length longer than 2 ULEB128 bytes (over 14 bits)", i);
            }
            int count = decodedValue(packed);
            if (i != 0 && count == 0) {
                throw new MalformedEncodingException("zero-length zero run after the first", i);
            }
            if (d + count > pageSize) {
                throw new MalformedEncodingException("zero run of " + bytes(count) + " from page offset " + d
                        + " goes past the page end (" + pageSize + ")", i);
            }
            i += decodedLength(packed);
            d += count;

            if (length - i < 2) {
                throw new MalformedEncodingException("truncated: " + bytes(length - i)
                        + " left where a non-zero run needs at least 2", i);
            }
            packed = uleb128DecodeSmall(src, i, length);
            if (packed < 0) {
                throw new MalformedEncodingException(
                        "non-zero run length longer than 2 ULEB128 bytes (over 14 bits)", i);
            }
            count = decodedValue(packed);
            if (count == 0) {
                throw new MalformedEncodingException("zero-length non-zero run", i);
            }
            if (d + count > pageSize) {
                throw new MalformedEncodingException("non-zero run of " + bytes(count) + " from page offset " + d
                        + " goes past the page end (" + pageSize + ")", i);
            }
            int dataStart = i + decodedLength(packed);
            if (dataStart + count > length) {
                throw new MalformedEncodingException("non-zero run of " + bytes(count) + " cut short: "
                        + bytes(length - dataStart) + " left", i);
            }
            if (page != null) {
                MemorySegment.copy(src, dataStart, page, ValueLayout.JAVA_BYTE, d, count);
            }
            d += count;
            i = dataStart + count;
        }
    }

    /**
     * Writes {@code value} as QEMU's small ULEB128 ({@code uleb128_encode_small}): one byte below
     * 0x80, otherwise two (low 7 bits with the continuation bit, then the rest).
     *
     * @return the number of bytes written, 1 or 2
     * @throws IllegalArgumentException when {@code value} is outside 0..0x3fff (QEMU asserts)
     */
    public static int uleb128EncodeSmall(byte[] out, int offset, int value) {
        if (value < 0 || value > ULEB128_SMALL_MAX) {
            throw new IllegalArgumentException("ULEB128 small value " + value + " outside 0..0x3fff");
        }
        if (value < 0x80) {
            out[offset] = (byte) value;
            return 1;
        }
        out[offset] = (byte) (value & 0x7f | 0x80);
        out[offset + 1] = (byte) (value >>> 7);
        return 2;
    }

    /**
     * Reads QEMU's small ULEB128 ({@code uleb128_decode_small}) at {@code offset}, looking at no
     * byte at or past {@code limit}. Like QEMU it accepts a non-minimal two-byte form (e.g.
     * {@code 80 00} is 0) and refuses a second byte with the continuation bit.
     *
     * @return {@code length << 16 | value} (see {@link #decodedValue}, {@link #decodedLength}),
     *         or -1 when the number takes more than 2 bytes or is cut off by {@code limit}
     */
    public static int uleb128DecodeSmall(byte[] in, int offset, int limit) {
        if (offset >= limit) {
            return -1;
        }
        int first = in[offset] & 0xff;
        if ((first & 0x80) == 0) {
            return 1 << 16 | first;
        }
        if (offset + 1 >= limit) {
            return -1;
        }
        int second = in[offset + 1] & 0xff;
        if ((second & 0x80) != 0) {
            return -1; // more than 14 bits
        }
        return 2 << 16 | second << 7 | first & 0x7f;
    }

    /** The value of a successful {@link #uleb128DecodeSmall} result. */
    public static int decodedValue(int packed) {
        return packed & 0xffff;
    }

    /** The number of bytes of a successful {@link #uleb128DecodeSmall} result. */
    public static int decodedLength(int packed) {
        return packed >>> 16;
    }

    /** First index at or after {@code from} where the pages differ, or {@code end}. */
    private static int zeroRunEnd(MemorySegment oldPage, MemorySegment newPage, int from, int end) {
        long mismatch = MemorySegment.mismatch(oldPage, from, end, newPage, from, end);
        return mismatch < 0 ? end : from + (int) mismatch;
    }

    /** First index at or after {@code from} where the pages agree, or {@code end}. */
    private static int nonZeroRunEnd(MemorySegment oldPage, MemorySegment newPage, int from, int end) {
        int i = from;
        while (i + Long.BYTES <= end) {
            long xor = oldPage.get(WORD, i) ^ newPage.get(WORD, i);
            // 0x80 in exactly the bytes of xor that are zero (no borrow crosses bytes).
            long zeroBytes = ~((xor & LOW7) + LOW7 | xor | LOW7);
            if (zeroBytes != 0) {
                return i + (Long.numberOfTrailingZeros(zeroBytes) >>> 3);
            }
            i += Long.BYTES;
        }
        while (i < end && oldPage.get(ValueLayout.JAVA_BYTE, i) != newPage.get(ValueLayout.JAVA_BYTE, i)) {
            i++;
        }
        return i;
    }

    private static String bytes(int n) {
        return n == 1 ? "1 byte" : n + " bytes";
    }

    private static void checkPageSize(int pageSize) {
        if (pageSize <= 0 || pageSize % 8 != 0 || pageSize > MAX_PAGE_SIZE) {
            throw new IllegalArgumentException("page size " + pageSize
                    + " is not a multiple of 8 in 8.." + MAX_PAGE_SIZE);
        }
    }

    private static void checkSegment(MemorySegment segment, int pageSize, String what) {
        Objects.requireNonNull(segment, what);
        if (segment.byteSize() < pageSize) {
            throw new IllegalArgumentException(what + " has " + segment.byteSize() + " bytes, fewer than the page size "
                    + pageSize);
        }
    }

    /**
     * An encoding {@link #decode} refuses: the message names the problem and the byte of the
     * encoding where it was found, which {@link #byteIndex()} also gives (add the record's offset
     * in the stream for a {@code StreamFormatException}).
     */
    public static final class MalformedEncodingException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        private final int byteIndex;

        MalformedEncodingException(String what, int byteIndex) {
            super("malformed XBZRLE encoding: " + what + " at byte " + byteIndex + " of the encoding");
            this.byteIndex = byteIndex;
        }

        /** Index in the encoding (0 = first byte after the be16 length) where the problem starts. */
        public int byteIndex() {
            return byteIndex;
        }
    }
}
