package dev.vmmigrate.multifd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.Truncation;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class MultifdInitTest {
    /** Channel 1's handshake as QEMU 7.2 sent it (qemu-streams/multifd/qemu-7.2/channel1.bin), uuid all zero. */
    static final String QEMU_CHANNEL_1 = "11223344 00000001 00000000000000000000000000000000 01 00000000000000"
            + " 0000000000000000000000000000000000000000000000000000000000000000";

    @Test
    void readsQemusHandshake() throws Exception {
        MultifdInit init = MultifdInit.read(MigrationInput.of(Hex.bytes(QEMU_CHANNEL_1)));
        assertEquals(1, init.channelId());
        assertArrayEquals(new byte[16], init.uuid());
        assertEquals("00000000-0000-0000-0000-000000000000", init.uuidText());
    }

    @Test
    void writesTheSameBytes() throws Exception {
        assertArrayEquals(Hex.bytes(QEMU_CHANNEL_1), encode(new MultifdInit(new byte[16], 1)));
        assertEquals(MultifdInit.BYTES, Hex.bytes(QEMU_CHANNEL_1).length);
    }

    @Test
    void roundTripsAUuid() throws Exception {
        byte[] uuid = Hex.bytes("0123456789abcdef fedcba9876543210");
        MultifdInit init = new MultifdInit(uuid, 200);
        MultifdInit back = MultifdInit.read(MigrationInput.of(encode(init)));
        assertEquals(init, back);
        assertEquals("01234567-89ab-cdef-fedc-ba9876543210", back.uuidText());
        assertTrue(init.sameMigration(new MultifdInit(uuid, 0)));
        assertFalse(init.sameMigration(new MultifdInit(new byte[16], 200)));
    }

    @Test
    void wrongMagicAndVersionAreNamed() {
        byte[] bytes = Hex.bytes(QEMU_CHANNEL_1);
        byte[] magic = bytes.clone();
        magic[0] = 0x51;
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> MultifdInit.read(MigrationInput.of(magic)));
        assertEquals("not a multifd channel: magic 0x51223344, expected 0x11223344 at offset 0", e.getMessage());
        byte[] version = bytes.clone();
        version[7] = 2;
        e = assertThrows(StreamFormatException.class, () -> MultifdInit.read(MigrationInput.of(version)));
        assertEquals("multifd channel version 2, expected 1 at offset 4", e.getMessage());
    }

    @Test
    void truncatedHandshakeFailsCleanly() {
        Truncation.assertFailsCleanlyWhenCut(Hex.bytes(QEMU_CHANNEL_1), MultifdInit::read);
        for (int cut = 0; cut < MultifdInit.BYTES; cut++) {
            byte[] part = Arrays.copyOf(Hex.bytes(QEMU_CHANNEL_1), cut);
            assertThrows(StreamFormatException.class, () -> MultifdInit.read(MigrationInput.of(part)), "cut at " + cut);
        }
    }

    @Test
    void refusesWhatDoesNotFit() {
        assertThrows(IllegalArgumentException.class, () -> new MultifdInit(new byte[15], 0));
        assertThrows(IllegalArgumentException.class, () -> new MultifdInit(new byte[16], 256));
    }

    static byte[] encode(MultifdInit init) throws Exception {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(sink)) {
            init.write(out);
        }
        return sink.toByteArray();
    }
}
