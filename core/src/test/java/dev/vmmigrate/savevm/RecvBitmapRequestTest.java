package dev.vmmigrate.savevm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * The commands of QEMU's postcopy recovery on the stream (qemu_savevm_send_recv_bitmap and
 * qemu_savevm_send_postcopy_resume): golden bytes both ways, and malformed payloads refused with
 * the command's offset.
 */
class RecvBitmapRequestTest {
    /** COMMAND (0x08), RECV_BITMAP (0x000a), 7 bytes: u8 6, "pc.ram". */
    private static final String RECV_BITMAP = "08" + "000a" + "0007" + "06" + "70632e72616d";
    /** COMMAND (0x08), POSTCOPY_RESUME (0x0009), no payload. */
    private static final String POSTCOPY_RESUME = "08" + "0009" + "0000";

    private static byte[] written(MigrationCommand command, byte[] payload) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            SaveVm.writeCommand(out, command, payload);
        }
        return bytes.toByteArray();
    }

    @Test
    void goldenBytesBothWays() throws IOException {
        assertArrayEquals(HexFormat.of().parseHex(RECV_BITMAP),
                written(MigrationCommand.RECV_BITMAP, new RecvBitmapRequest("pc.ram").encode()));
        assertArrayEquals(HexFormat.of().parseHex(POSTCOPY_RESUME), written(MigrationCommand.POSTCOPY_RESUME,
                new byte[0]));
        // Magic, version 3, then QEMU's configuration section for machine "none".
        String preamble = "5145564d" + "00000003" + "07" + "00000004" + "6e6f6e65";
        SectionReader reader = new SectionReader(MigrationInput.of(HexFormat.of().parseHex(preamble + RECV_BITMAP
                + POSTCOPY_RESUME)));
        Section.Command recv = (Section.Command) reader.next();
        assertEquals(MigrationCommand.RECV_BITMAP, recv.command());
        assertEquals(new RecvBitmapRequest("pc.ram"), RecvBitmapRequest.read(recv));
        reader.finish(recv);
        Section.Command resume = (Section.Command) reader.next();
        assertEquals(MigrationCommand.POSTCOPY_RESUME, resume.command());
    }

    @Test
    void malformedPayloadsAreRefusedWithTheOffset() {
        for (String hex : new String[] {"", "00", "05" + "70632e72616d", "07" + "70632e72616d"}) {
            StreamFormatException e = assertThrows(StreamFormatException.class, () -> RecvBitmapRequest.read(
                    new Section.Command(4321, MigrationCommand.RECV_BITMAP, HexFormat.of().parseHex(hex))), hex);
            assertTrue(e.getMessage().startsWith("RECV_BITMAP of ") && e.getMessage().endsWith("at offset 4321"),
                    e.getMessage());
        }
    }
}
