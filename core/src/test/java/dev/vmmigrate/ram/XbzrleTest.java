package dev.vmmigrate.ram;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.testing.Hex;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Golden bytes are derived by hand from QEMU 7.2's xbzrle_encode_buffer: ULEB128 zero-run length,
 * ULEB128 non-zero-run length, then the NEW bytes of the run; no trailing zero run.
 */
class XbzrleTest {
    private static final int PAGE = TargetPage.SIZE;

    private static byte[] encode(byte[] oldPage, byte[] newPage, int maxLength) {
        byte[] dst = new byte[maxLength];
        int n = Xbzrle.encode(MemorySegment.ofArray(oldPage), MemorySegment.ofArray(newPage), PAGE, dst, maxLength);
        return n < 0 ? null : Arrays.copyOf(dst, n);
    }

    private static int encodedLength(byte[] oldPage, byte[] newPage, int maxLength) {
        return Xbzrle.encode(MemorySegment.ofArray(oldPage), MemorySegment.ofArray(newPage), PAGE,
                new byte[maxLength], maxLength);
    }

    private static void decode(byte[] encoding, byte[] page) {
        Xbzrle.decode(encoding, encoding.length, MemorySegment.ofArray(page), PAGE);
    }

    @Test
    void oneChangedByteAtOffset100() {
        byte[] oldPage = new byte[PAGE];
        byte[] newPage = oldPage.clone();
        newPage[100] = (byte) 0xab;
        GoldenBytes.assertSame(Hex.bytes("64 01 ab"), encode(oldPage, newPage, PAGE));
    }

    @Test
    void carriesTheNewBytesNotTheirXor() {
        byte[] oldPage = new byte[PAGE];
        Arrays.fill(oldPage, (byte) 0x11);
        byte[] newPage = oldPage.clone();
        newPage[100] = 0x22; // XOR would be 0x33
        GoldenBytes.assertSame(Hex.bytes("64 01 22"), encode(oldPage, newPage, PAGE));
    }

    @Test
    void twoRuns() {
        byte[] oldPage = new byte[PAGE];
        byte[] newPage = oldPage.clone();
        newPage[100] = 0x11;
        newPage[101] = 0x22;
        newPage[102] = 0x33;
        newPage[200] = 0x44;
        // zero run 100, non-zero run 3, zero run 200 - 103 = 97 (0x61), non-zero run 1
        GoldenBytes.assertSame(Hex.bytes("64 03 11 22 33 61 01 44"), encode(oldPage, newPage, PAGE));
    }

    @Test
    void changeAtOffsetZeroStartsWithAnEmptyZeroRun() {
        byte[] oldPage = new byte[PAGE];
        byte[] newPage = oldPage.clone();
        newPage[0] = 0x5a;
        GoldenBytes.assertSame(Hex.bytes("00 01 5a"), encode(oldPage, newPage, PAGE));
    }

    @Test
    void changeAtTheLastByteUsesATwoByteLength() {
        byte[] oldPage = new byte[PAGE];
        byte[] newPage = oldPage.clone();
        newPage[PAGE - 1] = 0x77;
        // 4095 = 0xfff: low 7 bits 0x7f | 0x80 = ff, then 4095 >> 7 = 0x1f
        GoldenBytes.assertSame(Hex.bytes("ff 1f 01 77"), encode(oldPage, newPage, PAGE));
    }

    @Test
    void runLengthsAcrossWordBoundariesAndOf128() {
        byte[] oldPage = new byte[PAGE];
        byte[] newPage = oldPage.clone();
        newPage[7] = 1;
        newPage[8] = 2;
        for (int i = 16; i < 24; i++) {
            newPage[i] = (byte) (0xf0 + i - 16);
        }
        newPage[24 + 128] = (byte) 0x99;
        GoldenBytes.assertSame(Hex.bytes("07 02 01 02  07 08 f0 f1 f2 f3 f4 f5 f6 f7  80 01 01 99"),
                encode(oldPage, newPage, PAGE));
    }

    @Test
    void longNonZeroRunUsesATwoByteLength() {
        byte[] oldPage = new byte[PAGE];
        byte[] newPage = oldPage.clone();
        Arrays.fill(newPage, 0, 200, (byte) 0xee);
        byte[] expected = new byte[3 + 200];
        System.arraycopy(Hex.bytes("00 c8 01"), 0, expected, 0, 3);
        Arrays.fill(expected, 3, expected.length, (byte) 0xee);
        GoldenBytes.assertSame(expected, encode(oldPage, newPage, PAGE));
    }

    @Test
    void identicalPagesEncodeToZero() {
        byte[] oldPage = new byte[PAGE];
        new SplittableRandom(1).nextBytes(oldPage);
        assertEquals(0, encodedLength(oldPage, oldPage.clone(), PAGE));
    }

    @Test
    void allBytesDifferentOverflowsAPageSizedBuffer() {
        byte[] oldPage = new byte[PAGE];
        byte[] newPage = new byte[PAGE];
        Arrays.fill(newPage, (byte) 1);
        assertEquals(-1, encodedLength(oldPage, newPage, PAGE));
        // With room for the 3 header bytes it fits: 00, then 4096 = 80 20.
        byte[] encoded = encode(oldPage, newPage, PAGE + 3);
        assertEquals(PAGE + 3, encoded.length);
        GoldenBytes.assertSame(Hex.bytes("00 80 20 01 01"), Arrays.copyOf(encoded, 5));
    }

    @Test
    void overflowChecksAreQemus() {
        byte[] oldPage = new byte[PAGE];
        byte[] newPage = oldPage.clone();
        newPage[100] = (byte) 0xab;
        // The 3-byte encoding is followed by unchanged bytes: QEMU's loop wants 2 more bytes of
        // room before it finds that the rest is a (not written) zero run.
        assertEquals(-1, encodedLength(oldPage, newPage, 3));
        assertEquals(-1, encodedLength(oldPage, newPage, 4));
        assertEquals(3, encodedLength(oldPage, newPage, 5));
        // Identical pages with less than 2 bytes of room: overflow is checked first.
        assertEquals(-1, encodedLength(oldPage, oldPage.clone(), 1));
        assertEquals(0, encodedLength(oldPage, oldPage.clone(), 2));

        byte[] lastByte = oldPage.clone();
        lastByte[PAGE - 1] = 1;
        assertEquals(4, encodedLength(oldPage, lastByte, 4)); // the run ends the page: no further check
        assertEquals(-1, encodedLength(oldPage, lastByte, 3));
    }

    @Test
    void roundTripsRandomSparseChangesAndMatchesTheByteWiseDefinition() {
        SplittableRandom random = new SplittableRandom(0x5eed);
        int encoded = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (int trial = 0; trial < 1000; trial++) {
                byte[] oldPage = new byte[PAGE];
                if (random.nextBoolean()) {
                    random.nextBytes(oldPage);
                }
                byte[] newPage = oldPage.clone();
                int changes = random.nextInt(0, 40);
                for (int c = 0; c < changes; c++) {
                    int at = random.nextInt(PAGE);
                    int length = random.nextInt(1, random.nextBoolean() ? 4 : 70);
                    for (int i = at; i < Math.min(PAGE, at + length); i++) {
                        // sometimes write the same value: runs of "changed" bytes with holes
                        newPage[i] = random.nextInt(4) == 0 ? oldPage[i] : (byte) random.nextInt(256);
                    }
                }
                int maxLength = random.nextInt(4) == 0 ? random.nextInt(0, PAGE) : PAGE;
                // Alternate heap and (unaligned) native segments.
                MemorySegment oldSegment = MemorySegment.ofArray(oldPage);
                MemorySegment newSegment = MemorySegment.ofArray(newPage);
                if (trial % 2 == 1) {
                    oldSegment = arena.allocate(PAGE + 3).asSlice(3).copyFrom(oldSegment);
                    newSegment = arena.allocate(PAGE + 5).asSlice(5).copyFrom(newSegment);
                }
                byte[] dst = new byte[maxLength];
                int n = Xbzrle.encode(oldSegment, newSegment, PAGE, dst, maxLength);
                byte[] reference = new byte[maxLength];
                int expected = referenceEncode(oldPage, newPage, reference, maxLength);
                assertEquals(expected, n, "trial " + trial);
                if (n > 0) {
                    assertArrayEquals(Arrays.copyOf(reference, n), Arrays.copyOf(dst, n), "trial " + trial);
                    byte[] page = oldPage.clone();
                    Xbzrle.decode(dst, n, MemorySegment.ofArray(page), PAGE);
                    assertArrayEquals(newPage, page, "trial " + trial);
                    encoded++;
                } else if (n == 0) {
                    assertArrayEquals(oldPage, newPage, "trial " + trial);
                }
            }
        }
        assertTrue(encoded > 500, "only " + encoded + " trials encoded");
    }

    /** QEMU's encoder compared byte by byte, checks in the same places. */
    private static int referenceEncode(byte[] oldPage, byte[] newPage, byte[] dst, int maxLength) {
        int d = 0;
        int i = 0;
        while (i < PAGE) {
            if (d + 2 > maxLength) {
                return -1;
            }
            int zrun = 0;
            while (i < PAGE && oldPage[i] == newPage[i]) {
                zrun++;
                i++;
            }
            if (zrun == PAGE) {
                return 0;
            }
            if (i == PAGE) {
                return d;
            }
            d += Xbzrle.uleb128EncodeSmall(dst, d, zrun);
            if (d + 2 > maxLength) {
                return -1;
            }
            int start = i;
            while (i < PAGE && oldPage[i] != newPage[i]) {
                i++;
            }
            int nzrun = i - start;
            d += Xbzrle.uleb128EncodeSmall(dst, d, nzrun);
            if (d + nzrun > maxLength) {
                return -1;
            }
            System.arraycopy(newPage, start, dst, d, nzrun);
            d += nzrun;
        }
        return d;
    }

    @Test
    void decodeAppliesRunsInPlace() {
        byte[] page = new byte[PAGE];
        Arrays.fill(page, (byte) 0x11);
        decode(Hex.bytes("64 03 aa bb cc 61 01 dd"), page);
        byte[] expected = new byte[PAGE];
        Arrays.fill(expected, (byte) 0x11);
        expected[100] = (byte) 0xaa;
        expected[101] = (byte) 0xbb;
        expected[102] = (byte) 0xcc;
        expected[200] = (byte) 0xdd;
        assertArrayEquals(expected, page);
    }

    @Test
    void decodeAcceptsWhatQemuAccepts() {
        byte[] page = new byte[PAGE];
        decode(Hex.bytes("80 00 01 aa"), page); // non-minimal ULEB128 for an empty first zero run
        assertEquals((byte) 0xaa, page[0]);
        decode(Hex.bytes("ff 1f 01 bb"), page); // a run that ends exactly at the page end
        assertEquals((byte) 0xbb, page[PAGE - 1]);
    }

    @Test
    void decodeRefusesTruncatedEncodings() {
        byte[] oldPage = new byte[PAGE];
        byte[] newPage = oldPage.clone();
        Arrays.fill(newPage, 100, 150, (byte) 0x42);
        byte[] encoding = encode(oldPage, newPage, PAGE);
        int n = encoding.length;
        assertEquals(52, n);
        assertRefused(encoding, 0, "empty encoding", 0);
        assertRefused(encoding, n - 2, "non-zero run of 50 bytes cut short: 48 bytes left", 1);
        assertRefused(encoding, n / 2, "non-zero run of 50 bytes cut short: 24 bytes left", 1);
        assertRefused(encoding, n - 1, "cut short: 49 bytes left", 1);
        assertRefused(encoding, 1, "truncated: 1 byte left where a zero run needs at least 2", 0);
        assertRefused(encoding, 2, "truncated: 1 byte left where a non-zero run needs at least 2", 1);
        assertRefused(encoding, 3, "non-zero run of 50 bytes cut short: 1 byte left", 1);
        assertRefused(Hex.bytes("64"), 1, "truncated: 1 byte left where a zero run needs at least 2", 0);
        assertRefused(Hex.bytes("64 01 aa 05"), 4, "truncated: 1 byte left where a zero run needs at least 2", 3);
        assertRefused(Hex.bytes("64 01 aa 05 01"), 5, "truncated: 1 byte left where a non-zero run needs at least 2", 4);

        byte[] twoRuns = Hex.bytes("64 03 11 22 33 61 01 44");
        assertRefused(twoRuns, twoRuns.length - 2, "truncated: 1 byte left where a zero run needs at least 2", 5);
        assertRefused(twoRuns, twoRuns.length - 1, "truncated: 1 byte left where a non-zero run needs at least 2", 6);
    }

    @Test
    void decodeRefusesTrailingGarbage() {
        assertRefused(Hex.bytes("64 01 ab 00"), 4, "truncated: 1 byte left where a zero run needs at least 2", 3);
        assertRefused(Hex.bytes("64 01 ab 00 01 cd"), 6, "zero-length zero run after the first", 3);
    }

    @Test
    void decodeRefusesRunsPastThePageEnd() {
        assertRefused(Hex.bytes("81 20 01 aa"), 4, "zero run of 4097 bytes from page offset 0 goes past the page end", 0);
        assertRefused(Hex.bytes("80 20 01 aa"), 4, "non-zero run of 1 byte from page offset 4096 goes past", 2);
        assertRefused(Hex.bytes("ff 1f 02 aa bb"), 5, "non-zero run of 2 bytes from page offset 4095", 2);
        assertRefused(Hex.bytes("00 ff 1f 01 02 03"), 6, "cut short", 1);
    }

    @Test
    void decodeRefusesOversizedUleb128AndEmptyRuns() {
        assertRefused(Hex.bytes("80 80 01 01 aa"), 5, "zero run length longer than 2 ULEB128 bytes", 0);
        assertRefused(Hex.bytes("00 ff ff 01 aa"), 5, "non-zero run length longer than 2 ULEB128 bytes", 1);
        assertRefused(Hex.bytes("05 00 aa"), 3, "zero-length non-zero run", 1);
    }

    @Test
    void refusedEncodingLeavesThePageUntouched() {
        byte[] page = new byte[PAGE];
        byte[] bad = Hex.bytes("00 01 aa 05 01"); // first run fine, second cut short
        assertThrows(IllegalArgumentException.class, () -> decode(bad, page));
        assertArrayEquals(new byte[PAGE], page);
    }

    private static void assertRefused(byte[] encoding, int length, String what, int at) {
        byte[] page = new byte[PAGE];
        Xbzrle.MalformedEncodingException e = assertThrows(Xbzrle.MalformedEncodingException.class,
                () -> Xbzrle.decode(encoding, length, MemorySegment.ofArray(page), PAGE));
        assertTrue(e.getMessage().contains(what), e.getMessage());
        assertTrue(e.getMessage().endsWith(" at byte " + at + " of the encoding"), e.getMessage());
        assertEquals(at, e.byteIndex());
    }

    @Test
    void uleb128SmallLimits() {
        byte[] out = new byte[2];
        assertEquals(1, Xbzrle.uleb128EncodeSmall(out, 0, 0x7f));
        assertEquals(0x7f, out[0]);
        assertEquals(2, Xbzrle.uleb128EncodeSmall(out, 0, 0x80));
        assertArrayEquals(Hex.bytes("80 01"), out);
        assertEquals(2, Xbzrle.uleb128EncodeSmall(out, 0, 0x3fff));
        assertArrayEquals(Hex.bytes("ff 7f"), out);
        assertThrows(IllegalArgumentException.class, () -> Xbzrle.uleb128EncodeSmall(out, 0, 0x4000));
        assertThrows(IllegalArgumentException.class, () -> Xbzrle.uleb128EncodeSmall(out, 0, -1));

        int packed = Xbzrle.uleb128DecodeSmall(Hex.bytes("ff 7f"), 0, 2);
        assertEquals(0x3fff, Xbzrle.decodedValue(packed));
        assertEquals(2, Xbzrle.decodedLength(packed));
        packed = Xbzrle.uleb128DecodeSmall(Hex.bytes("05 ff"), 0, 2);
        assertEquals(5, Xbzrle.decodedValue(packed));
        assertEquals(1, Xbzrle.decodedLength(packed));
        assertEquals(-1, Xbzrle.uleb128DecodeSmall(Hex.bytes("80 80 00"), 0, 3)); // third byte never read
        assertEquals(-1, Xbzrle.uleb128DecodeSmall(Hex.bytes("80 01"), 0, 1)); // cut off
    }

    @Test
    void refusesUnusablePageSizesAndBuffers() {
        MemorySegment page = MemorySegment.ofArray(new byte[PAGE]);
        assertThrows(IllegalArgumentException.class, () -> Xbzrle.encode(page, page, 100, new byte[10], 10));
        assertThrows(IllegalArgumentException.class, () -> Xbzrle.encode(page, page, 32768, new byte[10], 10));
        assertThrows(IllegalArgumentException.class,
                () -> Xbzrle.encode(MemorySegment.ofArray(new byte[8]), page, PAGE, new byte[10], 10));
        assertThrows(IllegalArgumentException.class, () -> Xbzrle.encode(page, page, PAGE, new byte[10], 11));
        assertThrows(IllegalArgumentException.class, () -> Xbzrle.decode(new byte[3], 4, page, PAGE));
    }
}
