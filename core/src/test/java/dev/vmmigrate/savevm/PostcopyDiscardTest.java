package dev.vmmigrate.savevm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.stream.StreamFormatException;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** QEMU's POSTCOPY_RAM_DISCARD payload: golden bytes both ways, and every malformed shape refused with the offset. */
class PostcopyDiscardTest {
    /** Version 0, "pc.ram" (6 bytes), its 0, then [4096, +8192) and [1 MiB, +4096). */
    private static final byte[] GOLDEN = HexFormat.of().parseHex("00" + "06" + "70632e72616d" + "00"
            + "0000000000001000" + "0000000000002000" + "0000000000100000" + "0000000000001000");

    private static Section.Command command(byte[] payload) {
        return new Section.Command(1234, MigrationCommand.POSTCOPY_RAM_DISCARD, payload);
    }

    @Test
    void readsAndWritesQemusLayout() throws StreamFormatException {
        PostcopyDiscard discard = PostcopyDiscard.read(command(GOLDEN));
        assertEquals(new PostcopyDiscard("pc.ram", List.of(new PostcopyDiscard.Range(4096, 8192),
                new PostcopyDiscard.Range(1 << 20, 4096))), discard);
        assertArrayEquals(GOLDEN, discard.encode());
    }

    @Test
    void refusesMalformedPayloadsNamingTheCommandsOffset() {
        List<String> bad = List.of(
                "0006",                                        // too short
                "01" + "06" + "70632e72616d" + "00",           // version 1
                "00" + "09" + "70632e72616d" + "00",           // name longer than the payload
                "00" + "06" + "70632e72616d" + "01",           // no 0 after the name
                "00" + "06" + "70632e72616d" + "00" + "00000000000010", // ranges not whole pairs
                "00" + "06" + "70632e72616d" + "00" + "0000000000000800" + "0000000000001000", // start mid-page
                "00" + "06" + "70632e72616d" + "00" + "0000000000001000" + "0000000000000000"); // empty range
        for (String hex : bad) {
            StreamFormatException e = assertThrows(StreamFormatException.class,
                    () -> PostcopyDiscard.read(command(HexFormat.of().parseHex(hex))), hex);
            assertTrue(e.getMessage().contains("POSTCOPY_RAM_DISCARD") && e.getMessage().contains("1234"),
                    e.getMessage());
        }
    }
}
