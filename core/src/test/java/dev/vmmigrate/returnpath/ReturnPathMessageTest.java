package dev.vmmigrate.returnpath;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.Truncation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** Golden bytes of QEMU's return path messages (migrate_send_rp_message: be16 type, be16 length, payload). */
class ReturnPathMessageTest {
    private static byte[] write(ReturnPathMessage message) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            ReturnPathMessage.write(out, message);
        }
        return bytes.toByteArray();
    }

    private static ReturnPathMessage read(String hex) throws IOException {
        return ReturnPathMessage.read(MigrationInput.of(Hex.bytes(hex)));
    }

    @Test
    void goldenBytes() throws IOException {
        assertArrayEquals(Hex.bytes("0001 0004 00000000"), write(new ReturnPathMessage.Shut(0)));
        assertArrayEquals(Hex.bytes("0001 0004 00000001"), write(new ReturnPathMessage.Shut(1)));
        assertArrayEquals(Hex.bytes("0002 0004 00000001"), write(new ReturnPathMessage.Pong(1)));
        assertArrayEquals(Hex.bytes("7e01 0002 6f6b"), write(new ReturnPathMessage.Error("ok")));
        assertEquals(new ReturnPathMessage.Shut(0), read("0001 0004 00000000"));
        assertEquals(new ReturnPathMessage.Pong(0x564d4d53), read("0002 0004 564d4d53"));
        assertEquals(new ReturnPathMessage.Error("ok"), read("7e01 0002 6f6b"));
        ReturnPathMessage.Unsupported ack = assertInstanceOf(ReturnPathMessage.Unsupported.class, read("0006 0004 00000001"));
        assertEquals(ReturnPathType.RESUME_ACK, ack.type());
    }

    @Test
    void badTypeAndLengthAreNamed() {
        StreamFormatException type = assertThrows(StreamFormatException.class, () -> read("0063 0000"));
        assertEquals("unknown return path message 0x0063 at offset 0", type.getMessage());
        StreamFormatException length = assertThrows(StreamFormatException.class, () -> read("0001 0002 0000"));
        assertEquals("return path message SHUT of 2 bytes, expected 4 at offset 2", length.getMessage());
    }

    @Test
    void truncatedMessagesFailCleanly() {
        Truncation.assertFailsCleanlyWhenCut(Hex.bytes("0001 0004 00000000"), ReturnPathMessage::read);
    }

    /** A TLS alert where the destination's first message should be: the destination uses TLS. */
    @org.junit.jupiter.api.Test
    void aTlsRecordOnTheReturnPathIsNamed() {
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> ReturnPathType.fromCode(0x1503, 0));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().startsWith("the destination uses TLS (QEMU's tls-creds) and "
                + "this end does not: a TLS record (0x1503) instead of a return path message at offset 0"), e.getMessage());
        StreamFormatException later = assertThrows(StreamFormatException.class,
                () -> ReturnPathType.fromCode(0x1503, 12));
        org.junit.jupiter.api.Assertions.assertTrue(later.getMessage().startsWith("unknown return path message 0x1503 "),
                later.getMessage());
    }
}
