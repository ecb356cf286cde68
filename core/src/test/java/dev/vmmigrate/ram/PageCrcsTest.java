package dev.vmmigrate.ram;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vmmigrate.stream.TargetPage;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

class PageCrcsTest {
    private static long crcOf(byte[] bytes, int from, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, from, length);
        return crc.getValue();
    }

    @Test
    void zeroPageCrcIsCrc32cOfAPageOfZeros() {
        assertEquals(crcOf(new byte[TargetPage.SIZE], 0, TargetPage.SIZE), Integer.toUnsignedLong(PageCrcs.ZERO_PAGE_CRC));
        assertEquals(0x98f94189L, Integer.toUnsignedLong(PageCrcs.ZERO_PAGE_CRC), "golden: CRC32C of 4096 zero bytes, bit by bit");
    }

    @Test
    void combinedPageCrcsEqualTheCrcOfThePagesReadInOneGo() {
        int pages = 40;
        byte[] memory = new byte[pages * TargetPage.SIZE];
        Random random = new Random(7);
        PageCrcs crcs = new PageCrcs(pages);
        for (int page = 0; page < pages; page++) {
            if (page % 3 != 0) { // every third page stays zero, never recorded
                byte[] contents = new byte[TargetPage.SIZE];
                random.nextBytes(contents);
                System.arraycopy(contents, 0, memory, page * TargetPage.SIZE, TargetPage.SIZE);
                crcs.wrote(page, MemorySegment.ofArray(contents));
            }
        }
        assertEquals(crcOf(memory, 0, memory.length), crcs.crc(0, pages));
        assertEquals(crcOf(memory, 5 * TargetPage.SIZE, 17 * TargetPage.SIZE), crcs.crc(5, 17));
        assertEquals(crcOf(memory, 39 * TargetPage.SIZE, TargetPage.SIZE), crcs.crc(39, 1));
        assertEquals(0, crcs.crc(3, 0));
    }

    @Test
    void aPageWrittenAgainCountsWithItsLastContents() {
        byte[] first = new byte[TargetPage.SIZE];
        byte[] second = new byte[TargetPage.SIZE];
        first[100] = 1;
        second[4000] = 2;
        PageCrcs crcs = new PageCrcs(2);
        crcs.wrote(1, MemorySegment.ofArray(first));
        crcs.wrote(1, MemorySegment.ofArray(second));
        byte[] memory = new byte[2 * TargetPage.SIZE];
        System.arraycopy(second, 0, memory, TargetPage.SIZE, TargetPage.SIZE);
        assertEquals(crcOf(memory, 0, memory.length), crcs.crc(0, 2));
    }

    @Test
    void pagesOutsideTheBlockAreRefused() {
        PageCrcs crcs = new PageCrcs(4);
        assertThrows(IndexOutOfBoundsException.class, () -> crcs.crc(2, 3));
        assertThrows(IndexOutOfBoundsException.class, () -> crcs.wrote(4, MemorySegment.ofArray(new byte[TargetPage.SIZE])));
        assertThrows(IllegalArgumentException.class, () -> new PageCrcs(-1));
    }
}
