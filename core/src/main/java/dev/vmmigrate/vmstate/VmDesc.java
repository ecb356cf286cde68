package dev.vmmigrate.vmstate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The vmdesc JSON that follows the EOF byte of a precopy stream, shaped exactly as QEMU 7.2
 * writes it (migration/savevm.c, qemu_savevm_state_complete_precopy_non_iterable, and
 * migration/vmstate.c, vmstate_save_state_v with its vmsd_desc_field_start/end):
 *
 * <pre>{"page_size": 4096, "devices": [{"name": ..., "instance_id": ..., "vmsd_name": ...,
 *   "version": ..., "fields": [{"name", "type", "size"} ...], "subsections": [...]}]}</pre>
 *
 * <ul>
 * <li>a field is {"name", "type", "size"}; a struct field has a "struct" object between "type"
 *     and "size" holding the nested {"vmsd_name", "version", "fields", "subsections"?}, and its
 *     "size" counts every byte the struct wrote, nested subsections included;</li>
 * <li>a field name used more than once in a description (every "unused", for example) becomes
 *     "name[k]", k counting earlier fields of that name, even fields absent at this version;</li>
 * <li>fields absent at the saved version are left out;</li>
 * <li>"subsections" lists only the subsections actually sent, each {"vmsd_name", "version",
 *     "fields", "subsections"?}, and is left out when none is sent.</li>
 * </ul>
 * QEMU writes it compactly but with a space after ':' and ','; {@link #toQemuJson} reproduces
 * those bytes.
 */
public final class VmDesc {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private VmDesc() {
    }

    /**
     * One entry of "devices".
     *
     * @param name the section id string (QEMU's se->idstr)
     * @param instanceId the section's instance id
     * @param description the device's state layout
     * @param values the values being saved, to decide which subsections are sent; null lists
     *     every subsection as if all were needed
     */
    public record DeviceEntry(String name, int instanceId, VmStateDescription description, FieldValues values) {
        public DeviceEntry {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(description, "description");
        }

        public DeviceEntry(String name, int instanceId, VmStateDescription description) {
            this(name, instanceId, description, null);
        }
    }

    /** {"vmsd_name", "version", "fields", "subsections"?} with every subsection listed. */
    public static ObjectNode describe(VmStateDescription d) {
        return describe(d, null);
    }

    /**
     * {"vmsd_name", "version", "fields", "subsections"?} as QEMU writes it while saving
     * {@code values}: only subsections whose {@code needed} holds are listed (all when
     * {@code values} is null).
     */
    public static ObjectNode describe(VmStateDescription d, FieldValues values) {
        ObjectNode node = JSON.objectNode();
        describeInto(node, d, values);
        return node;
    }

    /** The whole document: {"page_size": ..., "devices": [...]}, QEMU 7.2's key order. */
    public static ObjectNode document(int pageSize, List<DeviceEntry> devices) {
        ObjectNode doc = JSON.objectNode();
        doc.put("page_size", pageSize);
        ArrayNode array = doc.putArray("devices");
        for (DeviceEntry e : devices) {
            ObjectNode device = array.addObject();
            device.put("name", e.name());
            device.put("instance_id", e.instanceId());
            describeInto(device, e.description(), e.values());
        }
        return doc;
    }

    /** Bytes the description writes for {@code values} (all subsections when null). */
    public static long encodedSize(VmStateDescription d, FieldValues values) {
        long size = 0;
        for (VmStateField f : d.fields()) {
            if (exists(d, f)) {
                size += fieldSize(f, values);
            }
        }
        for (VmStateDescription.Subsection s : d.subsections()) {
            if (sent(s, values)) {
                VmStateDescription sd = s.description();
                size += 1 + 1 + sd.name().getBytes(StandardCharsets.UTF_8).length + 4
                        + encodedSize(sd, nested(values, sd.name()));
            }
        }
        return size;
    }

    /**
     * The JSON text QEMU's JSONWriter produces for {@code node} (pretty = false): no newlines,
     * {@code ", "} between members and elements, {@code ": "} after keys, strings escaped as
     * QEMU escapes them (control characters and everything from 0x7F as uppercase \\uXXXX).
     */
    public static String toQemuJson(JsonNode node) {
        StringBuilder sb = new StringBuilder();
        write(sb, node);
        return sb.toString();
    }

    // ----------------------------------------------------------------

    private static void describeInto(ObjectNode node, VmStateDescription d, FieldValues values) {
        node.put("vmsd_name", d.name());
        node.put("version", d.version());
        ArrayNode fields = node.putArray("fields");
        for (int i = 0; i < d.fields().size(); i++) {
            VmStateField f = d.fields().get(i);
            if (!exists(d, f)) {
                continue;
            }
            ObjectNode field = fields.addObject();
            field.put("name", uniqueName(d, i));
            field.put("type", f.type().vmdescName());
            if (f.type() == FieldType.STRUCT) {
                describeInto(field.putObject("struct"), f.struct(), nested(values, f.name()));
            }
            long size = fieldSize(f, values);
            if (size == (int) size) {
                field.put("size", (int) size); // as a parser reads it back: an int node
            } else {
                field.put("size", size);
            }
        }
        ArrayNode subsections = null;
        for (VmStateDescription.Subsection s : d.subsections()) {
            if (!sent(s, values)) {
                continue;
            }
            if (subsections == null) {
                subsections = node.putArray("subsections");
            }
            VmStateDescription sd = s.description();
            describeInto(subsections.addObject(), sd, nested(values, sd.name()));
        }
    }

    /** QEMU saves at the description's own version: a field exists when its version is not newer. */
    private static boolean exists(VmStateDescription d, VmStateField f) {
        return f.sinceVersion() <= d.version();
    }

    private static boolean sent(VmStateDescription.Subsection s, FieldValues values) {
        return values == null || s.needed().test(values);
    }

    private static FieldValues nested(FieldValues values, String name) {
        return values != null && values.get(name) instanceof FieldValues v ? v : null;
    }

    private static long fieldSize(VmStateField f, FieldValues values) {
        return f.type() == FieldType.STRUCT ? encodedSize(f.struct(), nested(values, f.name())) : f.size();
    }

    /** QEMU's vmfield_name_is_unique / vmfield_name_num over all fields of the description. */
    private static String uniqueName(VmStateDescription d, int position) {
        String name = d.fields().get(position).name();
        int count = 0;
        int index = 0;
        for (int i = 0; i < d.fields().size(); i++) {
            if (d.fields().get(i).name().equals(name)) {
                if (i < position) {
                    index++;
                }
                count++;
            }
        }
        return count > 1 ? name + "[" + index + "]" : name;
    }

    private static void write(StringBuilder sb, JsonNode node) {
        if (node.isObject()) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<String, JsonNode> e : node.properties()) {
                if (!first) {
                    sb.append(", ");
                }
                first = false;
                quote(sb, e.getKey());
                sb.append(": ");
                write(sb, e.getValue());
            }
            sb.append('}');
        } else if (node.isArray()) {
            sb.append('[');
            for (int i = 0; i < node.size(); i++) {
                if (i > 0) {
                    sb.append(", ");
                }
                write(sb, node.get(i));
            }
            sb.append(']');
        } else if (node.isTextual()) {
            quote(sb, node.textValue());
        } else {
            sb.append(node.toString()); // numbers, booleans, null
        }
    }

    private static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20 || c >= 0x7f) {
                        sb.append(String.format("\\u%04X", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
