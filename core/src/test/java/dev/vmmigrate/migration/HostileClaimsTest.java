package dev.vmmigrate.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.held.HeldVmReceiver;
import dev.vmmigrate.inspect.StreamInspector;
import dev.vmmigrate.ram.RamLayoutProbe;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.HostileInput;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13's hostile claims, in golden bytes: each ends in one clean line naming the value and
 * its offset, before anything the claim asks for is allocated (no block mapped, no file made).
 */
class HostileClaimsTest {
    /** Header, configuration "none", START of section 2 "ram" instance 0 version 4. */
    private static final String RAM_START = "5145564d 00000003 07 00000004 6e6f6e65 01 00000002 03 72616d 00000000 00000004";

    @TempDir
    Path dir;

    /** MEM_SIZE and a block length of 2^62: the receiver's ceiling refuses it at the MEM_SIZE record (offset 34). */
    @Test
    void a2To62ByteRamBlockIsRefusedBeforeAnythingIsMapped() throws Exception {
        byte[] stream = Hex.bytes(RAM_START + " 4000000000000004 03 72616d 4000000000000000 0000000000000010 7e00000002 00");
        StreamFormatException guest = assertThrows(StreamFormatException.class,
                () -> RamLayoutProbe.requireWithin(stream, HostileInput.MAX_RAM, "--max-ram"));
        assertEquals("the stream announces 4611686018427387904 bytes of RAM (MEM_SIZE), more than the 67108864 bytes "
                + "this receiver takes (--max-ram) at offset 34", guest.getMessage());

        HeldVmReceiver held = new HeldVmReceiver(null, null, HostileInput.MAX_RAM);
        StreamFormatException heldRefusal = assertThrows(StreamFormatException.class,
                () -> held.loadVm().load(MigrationInput.of(stream)));
        assertEquals(guest.getMessage(), heldRefusal.getMessage());
        assertNull(held.vm());
        assertEquals(HostileInput.Outcome.REFUSED, HostileInput.receive(stream));

        Path extract = Files.createDirectory(dir.resolve("extract"));
        Path file = Files.write(dir.resolve("huge.mig"), stream);
        StreamFormatException extracting = assertThrows(StreamFormatException.class,
                () -> new StreamInspector(extract, HostileInput.MAX_RAM).inspect(file));
        assertEquals(guest.getMessage(), extracting.getMessage());
        try (Stream<Path> files = Files.list(extract)) {
            assertEquals(0, files.count(), "no RAM file written for the claim");
        }
    }

    /** A 255-byte block name of terminal escapes and a forged line: shown escaped and cut, on one line. */
    @Test
    void aGarbageBlockNameIsShownEscapedAndCut() throws Exception {
        byte[] name = forgedName();
        ByteArrayOutputStream stream = new ByteArrayOutputStream();
        stream.writeBytes(Hex.bytes(RAM_START + " 0000000000001004 ff"));
        stream.writeBytes(name);
        stream.writeBytes(Hex.bytes("0000000000001000 0000000000000010 7e00000002 00"));
        byte[] bytes = stream.toByteArray();
        {
            String message = refusedByGuest(bytes).getMessage();
            assertTrue(message.chars().allMatch(c -> c >= 0x20 && c < 0x7f), message);
            assertTrue(message.contains("'\\x1b]0;pwned\\x07\\x1b[31m\\x0avm-migrate: migration completed"), message);
            assertTrue(message.contains("...'"), "cut: " + message);
            assertFalse(message.contains("\n"), message);
        }
    }

    private static StreamFormatException refusedByGuest(byte[] bytes) throws Exception {
        // a guest's block is "ram": the stream's name is not in it
        try (dev.vmmigrate.guest.Guest guest = dev.vmmigrate.guest.Guest.builder().incoming(true).ramSize(4096).build()) {
            return assertThrows(StreamFormatException.class,
                    () -> MachineStreams.of(guest, false).loadVm(guest).load(MigrationInput.of(bytes)));
        }
    }

    static byte[] forgedName() {
        byte[] forged = "\u001b]0;pwned\u0007\u001b[31m\nvm-migrate: migration completed\n".getBytes(StandardCharsets.US_ASCII);
        byte[] name = Arrays.copyOf(forged, 255);
        Arrays.fill(name, forged.length, 255, (byte) 'A');
        return name;
    }

    /** A vmdesc length of 0x7fffffff after a valid stream: receive and inspect both give that reason. */
    @Test
    void aHugeVmdescLengthIsRefusedWithItsReason() throws Exception {
        byte[] valid = HostileCorpusReplayTest.committedInputs().get("own-plain");
        int eof = valid.length - 1;
        while (!(valid[eof] == 0x00 && valid[eof + 1] == 0x06 && valid[eof + 6] == '{')) {
            eof--; // the EOF section: 0x00, then the vmdesc: 0x06, be32 length, JSON
        }
        byte[] bad = Arrays.copyOf(valid, eof + 6 + 16);
        bad[eof + 2] = 0x7f;
        bad[eof + 3] = (byte) 0xff;
        bad[eof + 4] = (byte) 0xff;
        bad[eof + 5] = (byte) 0xff;
        String expected = "vmdesc of 2147483647 bytes (at most 16777216) at offset " + (eof + 2);
        Path file = Files.write(dir.resolve("vmdesc.mig"), bad);
        StreamFormatException inspected = assertThrows(StreamFormatException.class,
                () -> new StreamInspector(null).inspect(file));
        assertEquals(expected, inspected.getMessage());
        assertEquals(HostileInput.Outcome.REFUSED, HostileInput.receive(bad));
        assertEquals(HostileInput.Outcome.REFUSED, HostileInput.inspect(bad, dir));
    }

    /** A vmdesc of two million tokens (4 MiB, within the length bound): refused, not parsed into a huge tree. */
    @Test
    void aVmdescOfMillionsOfTokensIsRefused() throws Exception {
        byte[] valid = HostileCorpusReplayTest.committedInputs().get("own-plain");
        int eof = valid.length - 1;
        while (!(valid[eof] == 0x00 && valid[eof + 1] == 0x06 && valid[eof + 6] == '{')) {
            eof--;
        }
        byte[] json = ("{\"page_size\":4096,\"devices\":[" + "0,".repeat(2_000_000) + "0]}")
                .getBytes(StandardCharsets.US_ASCII);
        ByteArrayOutputStream stream = new ByteArrayOutputStream();
        stream.write(valid, 0, eof + 2);
        stream.writeBytes(java.nio.ByteBuffer.allocate(4).putInt(json.length).array());
        stream.writeBytes(json);
        Path file = Files.write(dir.resolve("tokens.mig"), stream.toByteArray());
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> new StreamInspector(null).inspect(file));
        assertTrue(e.getMessage().startsWith("vmdesc too large to decode (Token count (1048577) exceeds the maximum"),
                e.getMessage());
        assertTrue(e.getMessage().endsWith("at offset " + (eof + 1)), e.getMessage());
    }

    /** A PAGE record at 0x2000 of a 4096-byte block (offset 72, in the PART): refused naming both. */
    @Test
    void aPageOffsetPastItsBlockIsRefused() throws Exception {
        byte[] stream = Hex.bytes(RAM_START + " 0000000000001004 03 72616d 0000000000001000 0000000000000010 7e00000002"
                + " 02 00000002 0000000000002008 03 72616d" + " 00".repeat(4096) + " 0000000000000010 7e00000002 00");
        try (dev.vmmigrate.guest.Guest guest = dev.vmmigrate.guest.Guest.builder().incoming(true).ramSize(4096).build()) {
            StreamFormatException e = assertThrows(StreamFormatException.class,
                    () -> MachineStreams.of(guest, false).loadVm(guest).load(MigrationInput.of(stream)));
            assertEquals("RAM offset 0x2000 is beyond block 'ram' (4096 bytes) at offset 72", e.getMessage());
        }
        assertEquals(HostileInput.Outcome.REFUSED, HostileInput.receive(stream));
    }

    /** Truncated claims end the same clean way, wherever they are cut. */
    @Test
    void truncatedClaimsAreRefused() throws Exception {
        byte[] stream = Hex.bytes(RAM_START + " 4000000000000004 03 72616d 4000000000000000 0000000000000010 7e00000002 00");
        for (int cut = 0; cut < stream.length; cut++) {
            assertEquals(HostileInput.Outcome.REFUSED, HostileInput.receive(Arrays.copyOf(stream, cut)), "cut at " + cut);
        }
    }
}
