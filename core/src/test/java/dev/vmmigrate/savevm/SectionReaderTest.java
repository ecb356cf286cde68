package dev.vmmigrate.savevm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmmigrate.ram.CapturedStreams;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.Truncation;
import dev.vmmigrate.vmstate.VmDescDecoder;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class SectionReaderTest {
    /** Preamble for machine "none". */
    private static final String PREAMBLE = "5145564d 00000003 07 00000004 6e6f6e65";
    /** START "ram" id 1 (payload: EOS), PART, END, COMMAND SWITCHOVER_START. */
    private static final String RAM = "01 00000001 03 72616d 00000000 00000004 0000000000000010 7e 00000001"
            + " 02 00000001 0000000000000010 7e 00000001"
            + " 08 000b 0000"
            + " 03 00000001 0000000000000010 7e 00000001";
    /** FULL "dev" id 2 whose payload holds its own footer bytes followed by something that is no section. */
    private static final String DEVICE_PAYLOAD = "aa 7e00000002 ff 7e00000002 04 00000003 00";
    private static final String DEVICE = "04 00000002 03 646576 00000000 00000001 " + DEVICE_PAYLOAD + " 7e 00000002";
    private static final String EOF_AND_VMDESC = "00 06 00000002 7b7d";

    private static byte[] stream() {
        return Hex.bytes(PREAMBLE + RAM + DEVICE + EOF_AND_VMDESC);
    }

    @Test
    void yieldsEachSectionInOrderWithOffsets() throws IOException {
        SectionReader reader = new SectionReader(MigrationInput.of(stream()));
        assertEquals("none", reader.preamble().machineType());
        Section.Start start = assertInstanceOf(Section.Start.class, reader.next());
        assertEquals(17, start.offset());
        assertEquals(new SectionHeader.Open(SectionType.START, 1, "ram", 0, 4), start.header());
        assertEquals(0x10, reader.input().readBe64());
        reader.finish(start);
        Section.Part part = assertInstanceOf(Section.Part.class, reader.next());
        assertEquals(start.header(), part.opener(), "a PART comes with the START it continues");
        reader.input().readBe64();
        reader.finish(part);
        Section.Command command = assertInstanceOf(Section.Command.class, reader.next());
        assertEquals(MigrationCommand.SWITCHOVER_START, command.command());
        assertEquals(0, command.payload().length);
        Section.End end = assertInstanceOf(Section.End.class, reader.next());
        reader.input().readBe64();
        reader.finish(end);
        Section.Full full = assertInstanceOf(Section.Full.class, reader.next());
        assertEquals("dev", full.header().idstr());
        assertArrayEquals(Hex.bytes(DEVICE_PAYLOAD), reader.readOpaquePayload(full),
                "a footer pattern not followed by a section is payload");
        reader.finish(full);
        Section.Eof eof = assertInstanceOf(Section.Eof.class, reader.next());
        assertArrayEquals("{}".getBytes(), eof.vmdesc());
    }

    @Test
    void eofWithoutVmdesc() throws IOException {
        SectionReader reader = new SectionReader(MigrationInput.of(Hex.bytes(PREAMBLE + "00")));
        assertNull(assertInstanceOf(Section.Eof.class, reader.next()).vmdesc());
    }

    @Test
    void footerMustBeReadBeforeTheNextSection() throws IOException {
        SectionReader reader = new SectionReader(MigrationInput.of(stream()));
        reader.next();
        assertThrows(IllegalStateException.class, reader::next);
    }

    @Test
    void partOfAnUnopenedSectionNamesIdAndOffset() {
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> new SectionReader(MigrationInput.of(Hex.bytes(PREAMBLE + "02 00000009"))).next());
        assertEquals("PART for section id 9 that no START opened at offset 17", e.getMessage());
    }

    @Test
    void commandsAreCheckedByCodeAndLength() {
        StreamFormatException unknown = assertThrows(StreamFormatException.class,
                () -> new SectionReader(MigrationInput.of(Hex.bytes(PREAMBLE + "08 0063 0000"))).next());
        assertEquals("unknown COMMAND 0x0063 at offset 18", unknown.getMessage());
        StreamFormatException length = assertThrows(StreamFormatException.class,
                () -> new SectionReader(MigrationInput.of(Hex.bytes(PREAMBLE + "08 000b 0004 00000000"))).next());
        assertTrue(length.getMessage().startsWith("COMMAND SWITCHOVER_START with a payload of 4 bytes, expected 0"),
                length.getMessage());
        MigrationCommand ping = MigrationCommand.PING;
        assertEquals(0x02, ping.code());
        assertTrue(MigrationCommand.POSTCOPY_ADVISE.refusal().contains("postcopy-ram"));
        assertNull(MigrationCommand.SWITCHOVER_START.refusal());
    }

    @Test
    void truncatedStreamsFailCleanly() {
        Truncation.assertFailsCleanlyWhenCut(stream(), SectionReaderTest::walkKeepingDevices);
    }

    /**
     * Real QEMU pc streams: every device section is read as bytes up to its footer, and each one
     * the vmdesc describes field by field decodes to exactly those bytes, so the split is right.
     */
    @ParameterizedTest
    @ValueSource(strings = {CapturedStreams.PC_16M, CapturedStreams.PC_16M_QEMU10, CapturedStreams.NONE_2M_QEMU10})
    void splitsRealQemuDeviceSectionsExactly(String capture) throws IOException {
        Walked walked = walkKeepingDevices(MigrationInput.of(CapturedStreams.bytes(capture)));
        List<DeviceSection> devices = walked.devices();
        JsonNode vmdesc = new ObjectMapper().readTree(walked.vmdesc());
        assertEquals(vmdesc.get("devices").size(), devices.size(), "one section per vmdesc device");
        int checked = 0;
        for (DeviceSection device : devices) {
            JsonNode described = VmDescDecoder.findDevice(vmdesc, device.header().idstr(), device.header().instanceId())
                    .orElseThrow();
            if (!described.has("fields")) {
                continue; // QEMU's old-style handlers (slirp) have no field list
            }
            MigrationInput in = MigrationInput.of(device.payload());
            VmDescDecoder.decode(described, in);
            assertTrue(in.atEnd(), device.header().idstr() + ": the vmdesc decodes exactly the bytes kept");
            checked++;
        }
        assertTrue(checked >= devices.size() - 1, checked + " of " + devices.size() + " checked");
    }

    private record Walked(List<DeviceSection> devices, byte[] vmdesc) {
    }

    private static Walked walkKeepingDevices(MigrationInput in) throws IOException {
        SectionReader reader = new SectionReader(in);
        RamHandler ram = new RamHandler((id, length, offset) -> null);
        List<DeviceSection> devices = new ArrayList<>();
        while (true) {
            Section next = reader.next();
            switch (next) {
                case Section.Start start -> ram.load(in, SectionType.START, start.header().version());
                case Section.Part part -> ram.load(in, SectionType.PART, part.opener().version());
                case Section.End end -> ram.load(in, SectionType.END, end.opener().version());
                case Section.Full full -> devices.add(new DeviceSection(full.header(), reader.readOpaquePayload(full)));
                case Section.Command command -> {
                    continue;
                }
                case Section.Eof eof -> {
                    return new Walked(devices, eof.vmdesc());
                }
            }
            reader.finish(next);
        }
    }
}
