package dev.vmmigrate.vmstate;

import java.util.Objects;

/**
 * One named field of a device description.
 *
 * @param name field name, also its key in {@link FieldValues} and in the vmdesc
 * @param type the field's kind
 * @param size bytes on the wire (the fixed size for integers and bool; the length for buffers;
 *     ignored for structs)
 * @param sinceVersion the field is on the wire only for stream versions >= this (QEMU's
 *     version_id of a field; 0 means always)
 * @param struct the nested description of a {@link FieldType#STRUCT} field, else null
 */
public record VmStateField(String name, FieldType type, int size, int sinceVersion, VmStateDescription struct) {
    public VmStateField {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        if (type.fixedSize() > 0 && size != type.fixedSize()) {
            throw new IllegalArgumentException("field " + name + ": " + type.vmdescName()
                    + " has size " + type.fixedSize() + ", not " + size);
        }
        if ((type == FieldType.BUFFER || type == FieldType.UNUSED_BUFFER) && size <= 0) {
            throw new IllegalArgumentException("field " + name + ": buffer size must be positive");
        }
        if ((type == FieldType.STRUCT) != (struct != null)) {
            throw new IllegalArgumentException("field " + name + ": a struct field, and only one, has a nested description");
        }
    }

    public static VmStateField integer(String name, FieldType type) {
        return new VmStateField(name, type, type.fixedSize(), 0, null);
    }

    public static VmStateField bool(String name) {
        return new VmStateField(name, FieldType.BOOL, 1, 0, null);
    }

    public static VmStateField buffer(String name, int size) {
        return new VmStateField(name, FieldType.BUFFER, size, 0, null);
    }

    /** QEMU names unused fields "unused" in the vmdesc. */
    public static VmStateField unused(int size) {
        return new VmStateField("unused", FieldType.UNUSED_BUFFER, size, 0, null);
    }

    public static VmStateField struct(String name, VmStateDescription nested) {
        return new VmStateField(name, FieldType.STRUCT, 0, 0, nested);
    }

    /** The same field, present only from stream version {@code version} on. */
    public VmStateField since(int version) {
        return new VmStateField(name, type, size, version, struct);
    }
}
