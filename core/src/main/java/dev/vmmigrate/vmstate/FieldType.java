package dev.vmmigrate.vmstate;

/**
 * The field kinds a device description uses, named as QEMU's vmdesc JSON names them
 * ({@code "type"}), with their fixed size in bytes (0 where the field carries its own size).
 */
public enum FieldType {
    INT8("int8", 1), INT16("int16", 2), INT32("int32", 4), INT64("int64", 8),
    UINT8("uint8", 1), UINT16("uint16", 2), UINT32("uint32", 4), UINT64("uint64", 8),
    BOOL("bool", 1),
    /** Opaque bytes of the field's size. */
    BUFFER("buffer", 0),
    /** Bytes that are written as zeros and ignored on load (QEMU's VMSTATE_UNUSED). */
    UNUSED_BUFFER("unused_buffer", 0),
    /** A nested description. */
    STRUCT("struct", 0);

    private final String vmdescName;
    private final int fixedSize;

    FieldType(String vmdescName, int fixedSize) {
        this.vmdescName = vmdescName;
        this.fixedSize = fixedSize;
    }

    /** The name in the vmdesc JSON's "type". */
    public String vmdescName() {
        return vmdescName;
    }

    /** Size in bytes, 0 for kinds whose size the field gives. */
    public int fixedSize() {
        return fixedSize;
    }

    public boolean isInteger() {
        return fixedSize > 0 && this != BOOL;
    }

    public boolean isSigned() {
        return this == INT8 || this == INT16 || this == INT32 || this == INT64;
    }
}
