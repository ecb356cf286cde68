package dev.vmmigrate.savevm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.Truncation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class SectionHeaderTest {
    private static final SectionHeader START = new SectionHeader.Open(SectionType.START, 2, "ram", 0, 4);
    private static final byte[] START_BYTES = Hex.bytes("01 00000002 03 72616d 00000000 00000004");
    private static final SectionHeader FULL = new SectionHeader.Open(SectionType.FULL, 0, "timer", 0, 2);
    private static final byte[] FULL_BYTES = Hex.bytes("04 00000000 05 74696d6572 00000000 00000002");
    private static final SectionHeader PART = new SectionHeader.Continue(SectionType.PART, 2);
    private static final byte[] PART_BYTES = Hex.bytes("02 00000002");
    private static final SectionHeader END = new SectionHeader.Continue(SectionType.END, 2);
    private static final byte[] END_BYTES = Hex.bytes("03 00000002");

    private static byte[] write(SectionHeader header) throws IOException {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(sink)) {
            SectionHeader.write(out, header);
        }
        return sink.toByteArray();
    }

    private static SectionHeader read(byte[] bytes) throws IOException {
        MigrationInput in = MigrationInput.of(bytes);
        SectionType type = SectionType.fromCode(in.readU8(), 0);
        return SectionHeader.readOpen(in, type);
    }

    @Test
    void goldenBytesForEachSectionType() throws IOException {
        assertArrayEquals(START_BYTES, write(START));
        assertArrayEquals(FULL_BYTES, write(FULL));
        assertArrayEquals(PART_BYTES, write(PART));
        assertArrayEquals(END_BYTES, write(END));
        assertEquals(START, read(START_BYTES));
        assertEquals(FULL, read(FULL_BYTES));
        // PART and END headers are read by SectionReader, which knows the START they continue.
    }

    @Test
    void footerGoldenBytesAndMismatches() throws IOException {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(sink)) {
            SectionHeader.writeFooter(out, 2);
        }
        assertArrayEquals(Hex.bytes("7e 00000002"), sink.toByteArray());
        SectionHeader.readFooter(MigrationInput.of(Hex.bytes("7e 00000002")), 2, "ram");
        StreamFormatException wrongMarker = assertThrows(StreamFormatException.class,
                () -> SectionHeader.readFooter(MigrationInput.of(Hex.bytes("7f 00000002")), 2, "ram"));
        assertTrue(wrongMarker.getMessage().contains("0x7f"), wrongMarker.getMessage());
        StreamFormatException wrongId = assertThrows(StreamFormatException.class,
                () -> SectionHeader.readFooter(MigrationInput.of(Hex.bytes("7e 00000003")), 2, "ram"));
        assertTrue(wrongId.getMessage().contains("id 3"), wrongId.getMessage());
    }

    @Test
    void unknownTypeNamesTheByteAndOffset() {
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> SectionType.fromCode(0x09, 1234));
        assertEquals("unknown section type 0x09 at offset 1234", e.getMessage());
    }

    @Test
    void truncatedHeadersFailCleanly() {
        for (byte[] bytes : new byte[][] {START_BYTES, FULL_BYTES}) {
            Truncation.assertFailsCleanlyWhenCut(bytes, in -> SectionHeader.readOpen(in, SectionType.fromCode(in.readU8(), 0)));
        }
        Truncation.assertFailsCleanlyWhenCut(Hex.bytes("7e 00000002"), in -> SectionHeader.readFooter(in, 2, "ram"));
    }
}
