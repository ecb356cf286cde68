package dev.vmmigrate.migration;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.Truncation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** The first bytes of a resumed migration's new connection: "VMMR", be64 token, be64 stream offset. */
class ResumeHelloTest {
    private static final String GOLDEN = "564d4d52 8877665544332211 0000000000a00000";

    @Test
    void goldenBytes() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            new ResumeHello(0x8877665544332211L, 10L << 20).write(out);
        }
        assertArrayEquals(Hex.bytes(GOLDEN), bytes.toByteArray());
        assertEquals(new ResumeHello(0x8877665544332211L, 10L << 20), ResumeHello.read(MigrationInput.of(Hex.bytes(GOLDEN))));
    }

    @Test
    void aNewMigrationOrAStrangerIsRefusedByItsFirstBytes() {
        // QEMU's stream magic: a new migration, not a resumed one.
        StreamFormatException qemu = assertThrows(StreamFormatException.class,
                () -> ResumeHello.read(MigrationInput.of(Hex.bytes("5145564d 00000003 0000000000000000 0000"))));
        assertEquals("not a resumed migration (first bytes 0x5145564d, expected 0x564d4d52) at offset 0", qemu.getMessage());
        StreamFormatException negative = assertThrows(StreamFormatException.class,
                () -> ResumeHello.read(MigrationInput.of(Hex.bytes("564d4d52 0000000000000001 8000000000000000"))));
        assertEquals("resumed migration starting at stream offset 9223372036854775808 at offset 12", negative.getMessage());
    }

    @Test
    void truncatedHellosFailCleanly() {
        Truncation.assertFailsCleanlyWhenCut(Hex.bytes(GOLDEN), ResumeHello::read);
    }
}
