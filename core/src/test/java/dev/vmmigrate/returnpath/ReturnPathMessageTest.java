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
        ReturnPathMessage.Unsupported ack = assertInstanceOf(ReturnPathMessage.Unsupported.class, read("0007 0000"));
        assertEquals(ReturnPathType.SWITCHOVER_ACK, ack.type());
    }

    /** QEMU's RESUME_ACK (migrate_send_rp_resume_ack): be32 MIGRATION_RESUME_ACK_VALUE, 1. */
    @Test
    void resumeAckGoldenBytes() throws IOException {
        assertArrayEquals(Hex.bytes("0006 0004 00000001"), write(new ReturnPathMessage.ResumeAck(
                ReturnPathMessage.ResumeAck.VALUE)));
        assertEquals(new ReturnPathMessage.ResumeAck(1), read("0006 0004 00000001"));
        assertEquals(new ReturnPathMessage.ResumeAck(2), read("0006 0004 00000002"),
                "read as sent; the source refuses it");
        StreamFormatException length = assertThrows(StreamFormatException.class, () -> read("0006 0002 0001"));
        assertEquals("return path message RESUME_ACK of 2 bytes, expected 4 at offset 2", length.getMessage());
        Truncation.assertFailsCleanlyWhenCut(Hex.bytes("0006 0004 00000001"), ReturnPathMessage::read);
    }

    /** QEMU's postcopy page requests: REQ_PAGES_ID (3) names the block, REQ_PAGES (4) means the last one named. */
    @Test
    void pageRequestsGoldenBytes() throws IOException {
        String withId = "0003 0010 0000000000002000 00001000 03 72616d"; // 4096 bytes at 8192 of "ram"
        ReturnPathMessage.ReqPages named = new ReturnPathMessage.ReqPages("ram", 8192, 4096);
        assertArrayEquals(Hex.bytes(withId), write(named));
        assertEquals(named, read(withId));
        String plain = "0004 000c 0000000000003000 00002000";
        ReturnPathMessage.ReqPages same = new ReturnPathMessage.ReqPages(null, 12288, 8192);
        assertArrayEquals(Hex.bytes(plain), write(same));
        assertEquals(same, read(plain));
        assertThrows(StreamFormatException.class, () -> read("0003 000e 0000000000002000 00001000 03 72"),
                "a name that does not fill the payload");
    }

    /** QEMU's RECV_BITMAP (ramblock_recv_bitmap_send): name in the message, then be64 size, le64 words, be64 end mark; and ours. */
    @Test
    void resumeMessagesGoldenBytes() throws IOException {
        String recv = "0005 0004 03 72616d"        // RECV_BITMAP, 4 bytes: "ram"
                + " 0000000000000010"              // 16 bytes of bitmap
                + " 0300000000000000 0000000000000080" // pages 0, 1 and 127, words little-endian
                + " 0123456789abcdef";             // RAMBLOCK_RECV_BITMAP_ENDING
        ReturnPathMessage.RecvBitmap bitmap = new ReturnPathMessage.RecvBitmap("ram", new long[] {3, 1L << 63});
        assertArrayEquals(Hex.bytes(recv), write(bitmap));
        assertEquals(bitmap, read(recv));
        assertArrayEquals(Hex.bytes("7e02 0008 0102030405060708"), write(new ReturnPathMessage.Resumable(0x0102030405060708L)));
        assertEquals(new ReturnPathMessage.Resumable(0x0102030405060708L), read("7e02 0008 0102030405060708"));
        assertArrayEquals(Hex.bytes("7e03 0008 0000000000001000"), write(new ReturnPathMessage.Resumed(4096)));
        assertEquals(new ReturnPathMessage.Resumed(4096), read("7e03 0008 0000000000001000"));
    }

    @Test
    void aBrokenRecvBitmapIsNamed() {
        StreamFormatException end = assertThrows(StreamFormatException.class,
                () -> read("0005 0004 03 72616d 0000000000000008 0100000000000000 0123456789abcdee"));
        assertEquals("RECV_BITMAP for block 'ram' ends with 0x0123456789abcdee, not QEMU's end mark at offset 24",
                end.getMessage());
        StreamFormatException size = assertThrows(StreamFormatException.class,
                () -> read("0005 0004 03 72616d 0000000000000007"));
        assertEquals("RECV_BITMAP of 7 bytes for block 'ram' at offset 8", size.getMessage());
        StreamFormatException huge = assertThrows(StreamFormatException.class,
                () -> read("0005 0004 03 72616d 4000000000000000"));
        assertEquals("RECV_BITMAP of 4611686018427387904 bytes for block 'ram' at offset 8", huge.getMessage());
        StreamFormatException name = assertThrows(StreamFormatException.class, () -> read("0005 0003 05 7261"));
        assertEquals("RECV_BITMAP whose block name does not fill its 3-byte payload at offset 4", name.getMessage());
        Truncation.assertFailsCleanlyWhenCut(
                Hex.bytes("0005 0004 03 72616d 0000000000000008 0100000000000000 0123456789abcdef"),
                ReturnPathMessage::read);
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
