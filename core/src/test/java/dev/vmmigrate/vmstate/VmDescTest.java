package dev.vmmigrate.vmstate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class VmDescTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private static JsonNode qemuDevice(JsonNode vmdesc, String name) {
        return VmDescDecoder.findDevice(vmdesc, name, 0).orElseThrow();
    }

    /** The device entry without the savevm keys, i.e. what describe() covers. */
    private static ObjectNode withoutSectionKeys(JsonNode device) {
        ObjectNode copy = device.deepCopy();
        copy.remove("name");
        copy.remove("instance_id");
        return copy;
    }

    @Test
    void describeOfTimerAndGlobalstateEqualsQemus() throws IOException {
        JsonNode qemu = MAPPER.readTree(QemuStreams.NONE_VMDESC);
        assertEquals(withoutSectionKeys(qemuDevice(qemu, "timer")), VmDesc.describe(QemuStreams.TIMER));
        assertEquals(withoutSectionKeys(qemuDevice(qemu, "globalstate")), VmDesc.describe(QemuStreams.GLOBALSTATE));
    }

    @Test
    void documentOfMachineNoneMatchesQemuByteForByte() throws IOException {
        ObjectNode doc = VmDesc.document(TargetPage.SIZE, List.of(
                new VmDesc.DeviceEntry("timer", 0, QemuStreams.TIMER),
                new VmDesc.DeviceEntry("globalstate", 0, QemuStreams.GLOBALSTATE)));
        assertEquals(MAPPER.readTree(QemuStreams.NONE_VMDESC), doc);
        assertEquals(QemuStreams.NONE_VMDESC, VmDesc.toQemuJson(doc));
    }

    @Test
    void documentMatchesTheCapturedNoneStream() throws IOException {
        Optional<byte[]> stream = QemuStreams.captured("none-2m.qemu");
        Assumptions.assumeTrue(stream.isPresent(), "qemu-streams/none-2m.qemu not captured");
        JsonNode qemu = QemuStreamWalker.vmdesc(stream.get());
        assertEquals(withoutSectionKeys(qemuDevice(qemu, "timer")), VmDesc.describe(QemuStreams.TIMER));
        assertEquals(withoutSectionKeys(qemuDevice(qemu, "globalstate")), VmDesc.describe(QemuStreams.GLOBALSTATE));
        ObjectNode doc = VmDesc.document(qemu.get("page_size").intValue(), List.of(
                new VmDesc.DeviceEntry("timer", 0, QemuStreams.TIMER),
                new VmDesc.DeviceEntry("globalstate", 0, QemuStreams.GLOBALSTATE)));
        assertEquals(VmDesc.toQemuJson(qemu), VmDesc.toQemuJson(doc));
    }

    @Test
    void timerAndGlobalstateOfThePcCaptureEqualDescribe() throws IOException {
        Optional<byte[]> stream = QemuStreams.captured("pc-16m.qemu");
        Assumptions.assumeTrue(stream.isPresent(), "qemu-streams/pc-16m.qemu not captured");
        JsonNode qemu = QemuStreamWalker.vmdesc(stream.get());
        assertEquals(withoutSectionKeys(qemuDevice(qemu, "timer")), VmDesc.describe(QemuStreams.TIMER));
        assertEquals(withoutSectionKeys(qemuDevice(qemu, "globalstate")), VmDesc.describe(QemuStreams.GLOBALSTATE));
    }

    @Test
    void qemuJsonEscapesAsQemusWriter() throws IOException {
        JsonNode node = MAPPER.readTree("{\"a\": [1, -2, true, null, \"q\\\"\\\\\\n\\u0001\\u007f\\u00e9\\ud83d\\ude00\"], \"b\": {}, \"c\": []}");
        assertEquals("{\"a\": [1, -2, true, null, \"q\\\"\\\\\\n\\u0001\\u007F\\u00E9\\uD83D\\uDE00\"], \"b\": {}, \"c\": []}",
                VmDesc.toQemuJson(node));
    }

    // ------------------------------------------------ shapes QEMU writes for structs, names, subsections

    @Test
    void structsNestTheirDescriptionAndCountSubsectionBytesInSize() throws IOException {
        // ALL: every type, struct "st", subsection "dev/sub" (sent when flag is true).
        String expected = "{\"vmsd_name\": \"dev\", \"version\": 1, \"fields\": ["
                + "{\"name\": \"i8\", \"type\": \"int8\", \"size\": 1}, "
                + "{\"name\": \"i16\", \"type\": \"int16\", \"size\": 2}, "
                + "{\"name\": \"i32\", \"type\": \"int32\", \"size\": 4}, "
                + "{\"name\": \"i64\", \"type\": \"int64\", \"size\": 8}, "
                + "{\"name\": \"u8\", \"type\": \"uint8\", \"size\": 1}, "
                + "{\"name\": \"u16\", \"type\": \"uint16\", \"size\": 2}, "
                + "{\"name\": \"u32\", \"type\": \"uint32\", \"size\": 4}, "
                + "{\"name\": \"u64\", \"type\": \"uint64\", \"size\": 8}, "
                + "{\"name\": \"flag\", \"type\": \"bool\", \"size\": 1}, "
                + "{\"name\": \"buf\", \"type\": \"buffer\", \"size\": 3}, "
                + "{\"name\": \"unused\", \"type\": \"unused_buffer\", \"size\": 2}, "
                + "{\"name\": \"st\", \"type\": \"struct\", \"struct\": {\"vmsd_name\": \"pair\", \"version\": 1, "
                + "\"fields\": [{\"name\": \"a\", \"type\": \"uint16\", \"size\": 2}, "
                + "{\"name\": \"b\", \"type\": \"bool\", \"size\": 1}]}, \"size\": 3}], "
                + "\"subsections\": [{\"vmsd_name\": \"dev/sub\", \"version\": 1, "
                + "\"fields\": [{\"name\": \"extra\", \"type\": \"uint32\", \"size\": 4}]}]}";
        assertEquals(expected, VmDesc.toQemuJson(VmDesc.describe(VmStateCodecTest.ALL, VmStateCodecTest.allValues())));
        assertEquals(expected, VmDesc.toQemuJson(VmDesc.describe(VmStateCodecTest.ALL)));
        ObjectNode withoutSub = VmDesc.describe(VmStateCodecTest.ALL, VmStateCodecTest.allValues().put("flag", false));
        assertFalse(withoutSub.has("subsections"), "QEMU leaves \"subsections\" out when none is sent");

        // a struct's size counts its nested subsections: 1 field byte + 05 09 "inner/opt" 00000001 + 1
        FieldValues v = new FieldValues().put("in", new FieldValues().put("x", 1L)
                .put("inner/opt", new FieldValues().put("y", 2L))).put("after", 0L)
                .put("outer/opt", new FieldValues().put("z", 1L));
        JsonNode in = VmDesc.describe(VmStateCodecTest.OUTER, v).get("fields").get(0);
        assertEquals(1 + 1 + 1 + 9 + 4 + 1, in.get("size").intValue());
        assertEquals("inner/opt", in.get("struct").get("subsections").get(0).get("vmsd_name").asText());
        assertEquals(List.of("name", "type", "struct", "size"), keys(in));
        assertEquals(VmStateCodecTest.save(VmStateCodecTest.OUTER, v).length,
                VmDesc.encodedSize(VmStateCodecTest.OUTER, v));
    }

    @Test
    void repeatedNamesGetQemusIndexSuffixAndAbsentFieldsAreLeftOut() {
        VmStateDescription d = new VmStateDescription("d", 2, List.of(
                VmStateField.unused(4),
                VmStateField.integer("x", FieldType.UINT8).since(3), // not at version 2: absent, still counted
                VmStateField.integer("x", FieldType.UINT16),
                VmStateField.unused(2)));
        JsonNode fields = VmDesc.describe(d).get("fields");
        assertEquals(3, fields.size());
        assertEquals("unused[0]", fields.get(0).get("name").asText());
        assertEquals("x[1]", fields.get(1).get("name").asText());
        assertEquals("unused[1]", fields.get(2).get("name").asText());
    }

    @Test
    void documentDevicesCarryNameAndInstanceFirst() {
        ObjectNode doc = VmDesc.document(TargetPage.SIZE, List.of(new VmDesc.DeviceEntry("0000:00:01.0/dev", 1,
                VmStateCodecTest.ALL, VmStateCodecTest.allValues().put("flag", false))));
        assertEquals(List.of("page_size", "devices"), keys(doc));
        JsonNode device = doc.get("devices").get(0);
        assertEquals(List.of("name", "instance_id", "vmsd_name", "version", "fields"), keys(device));
        assertTrue(VmDescDecoder.describes(device, "0000:00:01.0/dev", 1));
        assertFalse(VmDescDecoder.describes(device, "0000:00:01.0/dev", 0));
        assertFalse(VmDescDecoder.describes(device, "dev", 1));
    }

    @Test
    void describedDocumentDecodesWhatTheCodecWrote() throws IOException {
        JsonNode device = VmDesc.document(TargetPage.SIZE, List.of(new VmDesc.DeviceEntry("dev", 0,
                VmStateCodecTest.ALL, VmStateCodecTest.allValues()))).get("devices").get(0);
        MigrationInput in = MigrationInput.of(VmStateCodecTest.ALL_BYTES);
        ObjectNode decoded = VmDescDecoder.decode(device, in);
        assertEquals(VmStateCodecTest.ALL_BYTES.length, in.position());
        assertEquals(MAPPER.readTree("""
                {"i8": -2, "i16": -3, "i32": -4, "i64": -5, "u8": 200, "u16": 48879, "u32": 3735928559,
                 "u64": 9223372036854775809, "flag": true, "buf": "616263", "unused": "0000",
                 "st": {"a": 4660, "b": false}, "dev/sub": {"extra": 7}}"""), decoded);
    }

    private static List<String> keys(JsonNode node) {
        return node.properties().stream().map(e -> e.getKey()).toList();
    }
}
