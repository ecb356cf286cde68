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
import java.util.List;
import org.junit.jupiter.api.Test;

class StreamPreambleTest {
    /** As QEMU 7.2 writes it for machine none: magic, version 3, 0x07, be32 4, "none". */
    private static final byte[] NONE = Hex.bytes("5145564d 00000003 07 00000004 6e6f6e65");

    private static byte[] write(StreamPreamble preamble) throws IOException {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(sink)) {
            preamble.write(out);
        }
        return sink.toByteArray();
    }

    /** A TLS client's ClientHello where QEMU's magic should be: the receiver says the source uses TLS. */
    @Test
    void aTlsHandshakeIsNamed() {
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> StreamPreamble.read(MigrationInput.of(Hex.bytes("16030301 02000100"))));
        assertTrue(e.getMessage().startsWith("the source uses TLS (QEMU's tls-creds) and this end does not: a TLS "
                + "handshake (0x16030301) instead of QEMU's magic at offset 0"), e.getMessage());
    }

    @Test
    void goldenBytes() throws IOException {
        assertArrayEquals(NONE, write(new StreamPreamble("none")));
        assertEquals(new StreamPreamble("none"), StreamPreamble.read(MigrationInput.of(NONE)));
    }

    @Test
    void capabilitiesSubsectionRoundTrips() throws IOException {
        StreamPreamble withCaps = new StreamPreamble("none", List.of("x-ignore-shared"));
        byte[] bytes = write(withCaps);
        assertArrayEquals(Hex.bytes("5145564d 00000003 07 00000004 6e6f6e65"
                + " 05 1a 636f6e66696775726174696f6e2f6361706162696c6974696573 00000001"
                + " 00000001 0f 782d69676e6f72652d736861726564"), bytes);
        assertEquals(withCaps, StreamPreamble.read(MigrationInput.of(bytes)));
    }

    @Test
    void wrongMagicAndVersionAreNamed() {
        StreamFormatException magic = assertThrows(StreamFormatException.class,
                () -> StreamPreamble.read(MigrationInput.of(Hex.bytes("7f454c46 00000003"))));
        assertEquals("not a QEMU migration stream: magic 0x7f454c46, expected 0x5145564d (\"QEVM\") at offset 0",
                magic.getMessage());
        StreamFormatException version = assertThrows(StreamFormatException.class,
                () -> StreamPreamble.read(MigrationInput.of(Hex.bytes("5145564d 00000002"))));
        assertEquals("unsupported stream version 2, expected 3 at offset 4", version.getMessage());
        StreamFormatException multifd = assertThrows(StreamFormatException.class,
                () -> StreamPreamble.read(MigrationInput.of(Hex.bytes("11223344 00000001"))));
        assertTrue(multifd.getMessage().contains("receive with --capability multifd"), multifd.getMessage());
    }

    @Test
    void oversizedMachineNameIsRefusedBeforeAllocating() {
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> StreamPreamble.read(MigrationInput.of(Hex.bytes("5145564d 00000003 07 fffffff0"))));
        assertEquals(9, e.offset());
    }

    @Test
    void truncatedPreambleFailsCleanly() {
        Truncation.assertFailsCleanlyWhenCut(NONE, StreamPreamble::read);
    }
}
