package dev.vmmigrate.vmstate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.Truncation;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class VmDescDecoderTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private static JsonNode json(String text) throws IOException {
        return MAPPER.readTree(text);
    }

    private static ObjectNode decode(String device, String hex) throws IOException {
        byte[] bytes = Hex.bytes(hex);
        MigrationInput in = MigrationInput.of(bytes);
        ObjectNode result = VmDescDecoder.decode(json(device), in);
        assertEquals(bytes.length, in.position(), "decoding consumes the whole payload");
        return result;
    }

    /** Decodes every device section of a stream; returns idstr/instance -> decoded values. */
    private static Map<String, ObjectNode> decodeAll(byte[] stream) throws IOException {
        Map<String, ObjectNode> decoded = new LinkedHashMap<>();
        List<String> missing = new ArrayList<>();
        QemuStreamWalker.walk(stream, (section, vmdesc, in) -> {
            Optional<JsonNode> device = VmDescDecoder.findDevice(vmdesc, section.idstr(), section.instanceId());
            if (device.isEmpty()) {
                missing.add(section.idstr());
                return;
            }
            decoded.put(section.idstr() + "#" + section.instanceId(),
                    VmDescDecoder.decode(device.get(), in, stream.length - in.position()));
        });
        assertEquals(List.of(), missing, "every device section has a vmdesc entry");
        assertEquals(QemuStreamWalker.vmdesc(stream).get("devices").size(), decoded.size());
        return decoded;
    }

    private static final String TIMER_DATA = "\"0000000000000000\"";

    @Test
    void decodesMachineNoneThroughItsVmdesc() throws IOException {
        byte[] stream = QemuStreams.noneWithoutRam();
        assertEquals(747, stream.length);
        Map<String, ObjectNode> decoded = decodeAll(stream);
        assertEquals(json("{\"cpu_ticks_offset\": 0, \"unused\": " + TIMER_DATA + ", \"cpu_clock_offset\": 0}"),
                decoded.get("timer#0"));
        assertEquals(json("{\"size\": 10, \"runstate\": \"7072656c61756e6368" + "00".repeat(91) + "\"}"),
                decoded.get("globalstate#0"));
    }

    @Test
    void codecLoadsTheSameSectionsOfMachineNone() throws IOException {
        byte[] stream = QemuStreams.noneWithoutRam();
        List<FieldValues> loaded = new ArrayList<>();
        QemuStreamWalker.walk(stream, (section, vmdesc, in) -> loaded.add(VmStateCodec.load(in,
                section.idstr().equals("timer") ? QemuStreams.TIMER : QemuStreams.GLOBALSTATE, section.version())));
        assertEquals(0L, loaded.get(0).getLong("cpu_clock_offset"));
        assertEquals(10L, loaded.get(1).getLong("size"));
        assertEquals("prelaunch", new String(loaded.get(1).getBytes("runstate"), 0, 9));
    }

    @Test
    void decodesTheCapturedNoneStream() throws IOException {
        Optional<byte[]> stream = QemuStreams.captured("none-2m.qemu");
        Assumptions.assumeTrue(stream.isPresent(), "qemu-streams/none-2m.qemu not captured");
        Map<String, ObjectNode> decoded = decodeAll(stream.get());
        assertEquals(List.of("timer#0", "globalstate#0"), List.copyOf(decoded.keySet()));
        assertEquals(10, decoded.get("globalstate#0").get("size").intValue());
    }

    @Test
    void decodesEveryDeviceSectionOfThePcCapture() throws IOException {
        Optional<byte[]> stream = QemuStreams.captured("pc-16m.qemu");
        Assumptions.assumeTrue(stream.isPresent(), "qemu-streams/pc-16m.qemu not captured");
        Map<String, ObjectNode> decoded = decodeAll(stream.get());
        assertTrue(decoded.size() >= 30, decoded.keySet().toString());

        ObjectNode cpu = decoded.get("cpu#0");
        assertEquals(16, cpu.get("env.regs").size(), "array_len 16 becomes an array");
        assertEquals(8, cpu.get("env.fpregs").size());
        assertTrue(cpu.get("env.fpregs").get(0).get("tmp").has("tmp_mant"), "tmp fields decode inline");
        assertTrue(cpu.has("cpu/poll_control_msr"), cpu.toString().substring(0, 200));

        ObjectNode fwCfg = decoded.get("fw_cfg#0");
        assertTrue(fwCfg.get("fw_cfg/dma").has("dma_addr"));
        assertEquals(3, fwCfg.get("fw_cfg/acpi_mr").size());

        JsonNode globalstate = decoded.get("globalstate#0");
        int size = globalstate.get("size").intValue();
        String runstate = globalstate.get("runstate").asText();
        assertEquals("00", runstate.substring(2 * (size - 1), 2 * size), "size counts the NUL");

        if (decoded.containsKey("fdc#0")) {
            JsonNode drives = decoded.get("fdc#0").get("state").get("drives");
            assertTrue(drives.isArray() && drives.size() >= 2, "indexed struct elements gather into an array");
            assertTrue(drives.get(0).has("fdrive/media_rate"), "subsection nested in a struct");
        }
        if (decoded.containsKey("slirp#0")) {
            assertTrue(decoded.get("slirp#0").get("data").isTextual(), "old-style section shown as hex");
        }
        assertEquals(2, decoded.keySet().stream().filter(k -> k.startsWith("dma#")).count());
    }

    @Test
    void truncatedSectionsFailCleanly() throws IOException {
        JsonNode device = VmDesc.describe(VmStateCodecTest.ALL, VmStateCodecTest.allValues());
        Truncation.assertFailsCleanlyWhenCut(VmStateCodecTest.ALL_BYTES, in -> VmDescDecoder.decode(device, in));
        byte[] timer = Hex.bytes("00".repeat(24));
        Truncation.assertFailsCleanlyWhenCut(timer, in -> VmDescDecoder.decode(VmDesc.describe(QemuStreams.TIMER), in));
    }

    @Test
    void unknownOrMissingSubsectionIsAnErrorWithTheOffset() throws IOException {
        String device = """
                {"vmsd_name": "dev", "version": 1, "fields": [{"name": "a", "type": "uint8", "size": 1}],
                 "subsections": [{"vmsd_name": "dev/sub", "version": 1,
                                  "fields": [{"name": "b", "type": "uint8", "size": 1}]}]}""";
        assertEquals(json("{\"a\": 1, \"dev/sub\": {\"b\": 2}}"), decode(device, "01 05 07 6465762f737562 00000001 02"));
        StreamFormatException unknown = assertThrows(StreamFormatException.class,
                () -> decode(device, "01 05 07 6465762f787878 00000001 02"));
        assertEquals(1, unknown.offset());
        assertTrue(unknown.getMessage().contains("unknown subsection 'dev/xxx'"), unknown.getMessage());
        StreamFormatException missing = assertThrows(StreamFormatException.class,
                () -> decode(device, "01 7e 00000000"));
        assertEquals(1, missing.offset());
        assertTrue(missing.getMessage().contains("'dev/sub'"), missing.getMessage());
    }

    @Test
    void qemuTypesDecodeAsAnalyzeMigrationShowsThem() throws IOException {
        String device = """
                {"name": "x", "instance_id": 0, "vmsd_name": "x", "version": 1, "fields": [
                  {"name": "eq", "type": "int32 equal", "size": 4},
                  {"name": "le", "type": "int32 le", "size": 4},
                  {"name": "ueq", "type": "uint32 equal", "size": 4},
                  {"name": "u8eq", "type": "uint8 equal", "size": 1},
                  {"name": "i64eq", "type": "int64 equal", "size": 8},
                  {"name": "cfg", "type": "pci config", "size": 3},
                  {"name": "t", "type": "timer", "size": 8},
                  {"name": "p", "type": "nullptr", "size": 1},
                  {"name": "odd", "type": "uint32", "size": 2},
                  {"name": "v", "array_len": 3, "type": "uint16", "size": 2},
                  {"name": "s", "index": 0, "type": "struct", "struct": {"vmsd_name": "e", "version": 1,
                      "fields": [{"name": "k", "type": "int8", "size": 1}]}, "size": 1},
                  {"name": "s", "index": 1, "type": "struct", "struct": {"vmsd_name": "e", "version": 1,
                      "fields": [{"name": "k", "type": "int8", "size": 1}]}, "size": 1},
                  {"name": "tmp", "type": "tmp", "vmsd_name": "x_tmp", "version": 0,
                      "fields": [{"name": "m", "type": "uint16", "size": 2}], "size": 2},
                  {"name": "unused", "type": "unused_buffer", "size": 2}]}""";
        ObjectNode decoded = decode(device, """
                ffffffff 00000005 ffffffff ff ffffffffffffffff aabbcc 0000000000001234 30 beef
                0001 0002 0003 ff 01 4242 0000""");
        assertEquals(json("""
                {"eq": -1, "le": 5, "ueq": 4294967295, "u8eq": 255, "i64eq": 18446744073709551615,
                 "cfg": "aabbcc", "t": "0000000000001234", "p": "nullptr", "odd": "beef",
                 "v": [1, 2, 3], "s": [{"k": -1}, {"k": 1}], "tmp": {"m": 16962}, "unused": "0000"}"""), decoded);
    }

    @Test
    void oldStyleSectionsAreShownBySize() throws IOException {
        String slirp = """
                {"name": "slirp", "instance_id": 0, "size": 3,
                 "fields": [{"name": "data", "size": 3, "type": "buffer"}]}""";
        assertEquals(json("{\"data\": \"010203\"}"), decode(slirp, "010203"));
    }

    @Test
    void sizesFromTheVmdescAreNotTrusted() throws IOException {
        String huge = "{\"vmsd_name\": \"h\", \"fields\": [{\"name\": \"b\", \"type\": \"buffer\", \"size\": 2147483647}]}";
        // with the section's limit known: refused before reading
        StreamFormatException limited = assertThrows(StreamFormatException.class,
                () -> VmDescDecoder.decode(json(huge), MigrationInput.of(new byte[16]), 16));
        assertTrue(limited.getMessage().contains("past the end of the section"), limited.getMessage());
        // without it: read in chunks until the stream runs out, never allocated whole
        assertThrows(StreamFormatException.class,
                () -> VmDescDecoder.decode(json(huge), MigrationInput.of(new byte[100_000])));

        String negative = "{\"vmsd_name\": \"h\", \"fields\": [{\"name\": \"b\", \"type\": \"buffer\", \"size\": -1}]}";
        assertThrows(StreamFormatException.class, () -> decode(negative, "00"));

        String manyEmpty = "{\"vmsd_name\": \"h\", \"fields\": [{\"name\": \"b\", \"array_len\": 2000000000, "
                + "\"type\": \"buffer\", \"size\": 0}]}";
        StreamFormatException tooMany = assertThrows(StreamFormatException.class, () -> decode(manyEmpty, ""));
        assertTrue(tooMany.getMessage().contains("values"), tooMany.getMessage());

        String deep = "{\"vmsd_name\": \"d\", \"fields\": []}";
        for (int i = 0; i < 100; i++) {
            deep = "{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"n\", \"type\": \"struct\", \"struct\": " + deep + "}]}";
        }
        String tooDeep = deep;
        StreamFormatException nested = assertThrows(StreamFormatException.class, () -> decode(tooDeep, ""));
        assertTrue(nested.getMessage().contains("deeper"), nested.getMessage());

        String noFields = "{\"vmsd_name\": \"h\"}";
        assertThrows(StreamFormatException.class, () -> decode(noFields, "00"));
    }

    @Test
    void structWhoseBytesDisagreeWithItsSizeIsAMismatch() {
        String device = """
                {"vmsd_name": "x", "fields": [{"name": "s", "type": "struct", "struct": {"vmsd_name": "e",
                  "fields": [{"name": "k", "type": "uint16", "size": 2}]}, "size": 3}]}""";
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> decode(device, "0001 00"));
        assertTrue(e.getMessage().contains("took 2 bytes, the vmdesc says 3"), e.getMessage());
    }

    @Test
    void longHexIsCappedButStillConsumed() throws IOException {
        int size = VmDescDecoder.MAX_HEX_BYTES + 10;
        String device = "{\"vmsd_name\": \"x\", \"fields\": [{\"name\": \"b\", \"type\": \"buffer\", \"size\": " + size + "}]}";
        MigrationInput in = MigrationInput.of(new byte[size]);
        ObjectNode decoded = VmDescDecoder.decode(json(device), in);
        assertEquals(size, in.position());
        assertTrue(decoded.get("b").asText().endsWith("...(" + size + " bytes)"));
    }
}
