package dev.vmmigrate.savevm;

import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.vmstate.VmStateCodec;

/** The byte that opens each top-level record of a migration stream (QEMU_VM_* in savevm.c). */
public enum SectionType {
    EOF(0x00),
    START(0x01),
    PART(0x02),
    END(0x03),
    FULL(0x04),
    /** QEMU_VM_SUBSECTION: defined in vmstate, whose codec writes it too (savevm depends on vmstate). */
    SUBSECTION(VmStateCodec.SUBSECTION),
    VMDESCRIPTION(0x06),
    CONFIGURATION(0x07),
    COMMAND(0x08),
    FOOTER(0x7e);

    private final int code;

    SectionType(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /** @param offset where the byte was read, for the error message */
    public static SectionType fromCode(int code, long offset) throws StreamFormatException {
        for (SectionType type : values()) {
            if (type.code == code) {
                return type;
            }
        }
        throw new StreamFormatException(String.format("unknown section type 0x%02x", code), offset);
    }

    /** START and FULL carry the handler's id string, instance and version; PART and END only the section id. */
    public boolean opensSection() {
        return this == START || this == FULL;
    }
}
