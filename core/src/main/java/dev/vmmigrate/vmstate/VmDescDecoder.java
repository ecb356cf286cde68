package dev.vmmigrate.vmstate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;

import java.io.IOException;
import java.math.BigInteger;
import java.util.HexFormat;
import java.util.Optional;

/**
 * Decodes the payload of any device section through the vmdesc JSON the stream carries, the
 * way QEMU's scripts/analyze-migration.py does, so {@code inspect} can show the fields of
 * devices it has no description of (QEMU machine {@code pc} has about thirty).
 *
 * <p>Output: an ordered object, field name to value. Integers ("int8".."uint64", also with
 * QEMU's " equal" and " le" suffixes) as numbers, uint64 values from 2^63 as big integers;
 * "bool" as a boolean; "struct" as a nested object; an "array_len" field as an array of that
 * many elements; fields that share a name (QEMU's "index" form) gathered into an array; fields
 * with an inline description ("tmp", "vstruct") as nested objects; "nullptr" as the text
 * {@code "nullptr"}; "capability" as its text; every other type ("buffer", "unused_buffer",
 * "timer", "bitmap", "pci config", ...) as lowercase hex of its "size" bytes. Subsections follow
 * the fields, matched by name against the description's "subsections" list and stored under
 * their name.
 *
 * <p>The vmdesc comes from the stream too, so nothing in it is trusted: sizes are checked
 * against the section's byte limit, hex shown per field is capped at {@link #MAX_HEX_BYTES}
 * (the rest is skipped), nesting and the number of values are bounded. Every error is a
 * {@link StreamFormatException} naming the offset.
 */
public final class VmDescDecoder {
    /** Bytes of one field shown as hex; longer fields are shown cut with their length. */
    public static final int MAX_HEX_BYTES = 1 << 20;
    /** Deepest nesting of structs and subsections accepted. */
    public static final int MAX_DEPTH = 64;
    /** Most values one device section may decode to. */
    public static final int MAX_VALUES = 1 << 20;

    private static final int CHUNK = 8192;
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;
    private static final HexFormat HEX = HexFormat.of();

    private final MigrationInput in;
    private final long end;
    private int valueCount;

    private VmDescDecoder(MigrationInput in, long end) {
        this.in = in;
        this.end = end;
    }

    /**
     * True when {@code device} (one element of the vmdesc's "devices") describes the section
     * with this id string and instance id, the key analyze-migration.py matches sections on.
     */
    public static boolean describes(JsonNode device, String idstr, long instanceId) {
        JsonNode name = device.get("name");
        JsonNode instance = device.get("instance_id");
        return name != null && name.isTextual() && name.textValue().equals(idstr)
                && instance != null && instance.canConvertToLong() && instance.longValue() == instanceId;
    }

    /** The element of the vmdesc document's "devices" that describes the section, if any. */
    public static Optional<JsonNode> findDevice(JsonNode vmdesc, String idstr, long instanceId) {
        JsonNode devices = vmdesc.get("devices");
        if (devices != null && devices.isArray()) {
            for (JsonNode device : devices) {
                if (describes(device, idstr, instanceId)) {
                    return Optional.of(device);
                }
            }
        }
        return Optional.empty();
    }

    /** Decodes one device section's payload; {@code in} is left right after it. */
    public static ObjectNode decode(JsonNode device, MigrationInput in) throws IOException {
        return decode(device, in, Long.MAX_VALUE);
    }

    /**
     * Decodes one device section's payload, refusing to read more than {@code maxBytes} bytes
     * (the bytes left in the section or file, when known).
     */
    public static ObjectNode decode(JsonNode device, MigrationInput in, long maxBytes) throws IOException {
        long start = in.position();
        long end = maxBytes > Long.MAX_VALUE - start ? Long.MAX_VALUE : start + maxBytes;
        VmDescDecoder decoder = new VmDescDecoder(in, end);
        String owner = text(device, "vmsd_name", text(device, "name", "?"));
        return decoder.decodeState(device, owner, 0);
    }

    // ----------------------------------------------------------------

    /** A description object: {"vmsd_name"?, "version"?, "fields", "subsections"?}. */
    private ObjectNode decodeState(JsonNode desc, String owner, int depth) throws IOException {
        if (depth > MAX_DEPTH) {
            throw fail("vmdesc of " + StreamText.quote(owner) + " nests deeper than " + MAX_DEPTH + " levels", in.position());
        }
        JsonNode fields = desc.get("fields");
        if (fields == null || !fields.isArray()) {
            throw fail("vmdesc of " + StreamText.quote(owner) + " has no \"fields\" array", in.position());
        }
        ObjectNode out = JSON.objectNode();
        for (JsonNode field : fields) {
            decodeField(field, owner, depth, out);
        }
        JsonNode subsections = desc.get("subsections");
        if (subsections != null && subsections.isArray()) {
            for (JsonNode expected : subsections) {
                decodeSubsection(subsections, expected, owner, depth, out);
            }
        }
        return out;
    }

    private void decodeField(JsonNode field, String owner, int depth, ObjectNode out) throws IOException {
        String name = text(field, "name", null);
        if (name == null || text(field, "type", null) == null) {
            throw fail("vmdesc of " + StreamText.quote(owner) + " has a field without \"name\" or \"type\"", in.position());
        }
        JsonNode arrayLen = field.get("array_len");
        if (arrayLen != null) {
            if (!arrayLen.canConvertToInt() || arrayLen.intValue() < 0) {
                throw fail("vmdesc of " + StreamText.quote(owner) + ": field " + StreamText.quote(name) + " has a bad array_len " + arrayLen,
                        in.position());
            }
            ArrayNode elements = indexed(out, name);
            for (int i = 0; i < arrayLen.intValue(); i++) {
                // QEMU describes a compressed array by its first element only.
                elements.add(decodeValue(field, name, owner, depth, i == 0));
            }
        } else if (field.has("index")) {
            indexed(out, name).add(decodeValue(field, name, owner, depth, true));
        } else {
            JsonNode value = decodeValue(field, name, owner, depth, true);
            JsonNode previous = out.get(name);
            if (previous == null) {
                out.set(name, value);
            } else {
                indexed(out, name).add(value); // a repeated name, as analyze-migration.py gathers it
            }
        }
    }

    /** The array under {@code name}, made (or made from the single value there) if need be. */
    private static ArrayNode indexed(ObjectNode out, String name) {
        JsonNode previous = out.get(name);
        if (previous instanceof ArrayNode array) {
            return array;
        }
        ArrayNode array = JSON.arrayNode();
        if (previous != null) {
            array.add(previous);
        }
        out.set(name, array);
        return array;
    }

    private JsonNode decodeValue(JsonNode field, String name, String owner, int depth, boolean checkSize)
            throws IOException {
        if (++valueCount > MAX_VALUES) {
            throw fail("device section decodes to more than " + MAX_VALUES + " values", in.position());
        }
        long at = in.position();
        String type = field.get("type").asText();
        String where = "field " + StreamText.quote(name) + " of " + StreamText.quote(owner) + "";
        switch (type) {
            case "struct" -> {
                JsonNode nested = field.get("struct");
                if (nested == null || !nested.isObject()) {
                    throw fail("vmdesc: struct " + where + " has no \"struct\" description", at);
                }
                ObjectNode value = decodeState(nested, text(nested, "vmsd_name", name), depth + 1);
                if (checkSize) {
                    checkConsumed(field, where, at);
                }
                return value;
            }
            case "tmp", "vstruct" -> {
                if (field.has("fields")) {
                    // QEMU writes the nested description inline in the field object for these.
                    ObjectNode value = decodeState(field, text(field, "vmsd_name", name), depth + 1);
                    if (checkSize) {
                        checkConsumed(field, where, at);
                    }
                    return value;
                }
            }
            case "capability" -> {
                need(1, where, at);
                int length = in.peekU8();
                need(1L + Math.max(length, 0), where, at);
                return JSON.textNode(in.readCountedString());
            }
            default -> {
            }
        }
        int size = size(field, where, at);
        need(size, where, at);
        if (type.equals("bool") && size == 1) {
            return JSON.booleanNode(in.readU8() != 0);
        }
        if (type.equals("nullptr") && size == 1) {
            int b = in.readU8();
            return b == '0' ? JSON.textNode("nullptr") : JSON.textNode(HEX.toHexDigits((byte) b));
        }
        int width = integerWidth(type);
        if (width > 0 && width == size) {
            return integer(type, width);
        }
        return hex(size);
    }

    /** Width in bytes of QEMU's integer types ("uint32", "int32 equal", "int32 le"...), else 0. */
    private static int integerWidth(String type) {
        String base = type.indexOf(' ') < 0 ? type : type.substring(0, type.indexOf(' '));
        return switch (base) {
            case "int8", "uint8" -> 1;
            case "int16", "uint16" -> 2;
            case "int32", "uint32" -> 4;
            case "int64", "uint64" -> 8;
            default -> 0;
        };
    }

    private JsonNode integer(String type, int width) throws IOException {
        // QEMU names its uint64 equality check "int64 equal": the value is unsigned.
        boolean signed = type.startsWith("int") && !type.equals("int64 equal");
        long value = switch (width) {
            case 1 -> signed ? (byte) in.readU8() : in.readU8();
            case 2 -> signed ? (short) in.readBe16() : in.readBe16();
            case 4 -> signed ? in.readBe32() : in.readBe32() & 0xffffffffL;
            default -> in.readBe64();
        };
        if (!signed && width == 8 && value < 0) {
            return JSON.numberNode(new BigInteger(Long.toUnsignedString(value)));
        }
        return value == (int) value ? JSON.numberNode((int) value) : JSON.numberNode(value);
    }

    /** Lowercase hex of {@code size} bytes, read in small chunks; beyond the cap the rest is skipped. */
    private JsonNode hex(int size) throws IOException {
        int shown = Math.min(size, MAX_HEX_BYTES);
        StringBuilder sb = new StringBuilder(Math.min(shown, CHUNK) * 2);
        for (int done = 0; done < shown; ) {
            int chunk = Math.min(CHUNK, shown - done);
            HEX.formatHex(sb, in.readBytes(chunk));
            done += chunk;
        }
        if (shown < size) {
            in.skip(size - shown);
            sb.append("...(").append(size).append(" bytes)");
        }
        return JSON.textNode(sb.toString());
    }

    private void decodeSubsection(JsonNode list, JsonNode expected, String owner, int depth, ObjectNode out)
            throws IOException {
        long at = in.position();
        String expectedName = text(expected, "vmsd_name", "?");
        String where = "subsection " + StreamText.quote(expectedName) + " of " + StreamText.quote(owner) + "";
        need(1, where, at);
        int marker = in.readU8();
        if (marker != VmStateCodec.SUBSECTION) {
            throw fail(where + " not found (byte 0x" + HEX.toHexDigits((byte) marker) + ")", at);
        }
        need(1, where, at);
        need(1L + in.peekU8() + 4, where, at);
        String name = in.readCountedString();
        in.readBe32(); // version: the vmdesc already says what was written
        JsonNode desc = expected;
        if (!name.equals(expectedName)) {
            desc = null;
            for (JsonNode candidate : list) {
                if (name.equals(text(candidate, "vmsd_name", null))) {
                    desc = candidate;
                    break;
                }
            }
            if (desc == null) {
                throw fail("unknown subsection " + StreamText.quote(name) + " of " + StreamText.quote(owner) + "", at);
            }
        }
        out.set(name, decodeState(desc, name, depth + 1));
    }

    private void checkConsumed(JsonNode field, String where, long at) throws StreamFormatException {
        JsonNode size = field.get("size");
        long consumed = in.position() - at;
        if (size != null && size.canConvertToLong() && size.longValue() != consumed) {
            throw fail(where + " took " + consumed + " bytes, the vmdesc says " + size.longValue(), at);
        }
    }

    private static int size(JsonNode field, String where, long at) throws StreamFormatException {
        JsonNode size = field.get("size");
        if (size == null || !size.isIntegralNumber() || !size.canConvertToInt() || size.intValue() < 0) {
            throw fail("vmdesc: " + where + " has a bad size " + size, at);
        }
        return size.intValue();
    }

    /** Refuses to read {@code bytes} more when they would pass the section's end. */
    private void need(long bytes, String where, long at) throws StreamFormatException {
        if (bytes > end - in.position()) {
            throw fail(where + " needs " + bytes + " bytes, past the end of the section", at);
        }
    }

    private static String text(JsonNode node, String key, String fallback) {
        JsonNode value = node.get(key);
        return value != null && value.isTextual() ? value.textValue() : fallback;
    }

    private static StreamFormatException fail(String message, long offset) {
        return new StreamFormatException(message, offset);
    }
}
