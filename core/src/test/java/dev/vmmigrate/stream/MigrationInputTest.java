package dev.vmmigrate.stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.Truncation;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class MigrationInputTest {
    private static final byte[] VALUES = Hex.bytes("ab 0102 5145564d 1122334455667788 03 72616d");

    private static void readAll(MigrationInput in) throws IOException {
        assertEquals(0xab, in.readU8());
        assertEquals(0x0102, in.readBe16());
        assertEquals(0x5145564d, in.readBe32());
        assertEquals(0x1122334455667788L, in.readBe64());
        assertEquals("ram", in.readCountedString());
    }

    @Test
    void readsBigEndianValuesAndTracksPosition() throws IOException {
        MigrationInput in = MigrationInput.of(VALUES);
        assertEquals(0xab, in.peekU8());
        readAll(in);
        assertEquals(VALUES.length, in.position());
        assertTrue(in.atEnd());
        assertEquals(-1, in.peekU8());
    }

    @Test
    void truncatedValuesFailWithTheirOffset() {
        Truncation.assertFailsCleanlyWhenCut(VALUES, MigrationInputTest::readAll);
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> MigrationInput.of(Hex.bytes("00 01 02")).readBe32());
        assertEquals(0, e.offset());
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void readsIntoSegmentsAcrossBufferRefills() throws IOException {
        byte[] data = new byte[700_001];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 13 + 1);
        }
        MigrationInput in = MigrationInput.of(data);
        in.skip(1);
        byte[] target = new byte[data.length - 1];
        in.readInto(MemorySegment.ofArray(target), 0, target.length);
        assertArrayEquals(java.util.Arrays.copyOfRange(data, 1, data.length), target);
        assertEquals(data.length, in.position());
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> in.skip(1));
        assertEquals(data.length, e.offset());
    }
}
