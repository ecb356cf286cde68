package dev.vmmigrate.savevm;

/**
 * One top-level record of a stream after its preamble, as {@link SectionReader} yields it. A
 * START, PART, END or FULL is followed by a payload that its consumer reads, then its footer,
 * which {@link SectionReader#finish} checks; a COMMAND and the EOF come whole.
 */
public sealed interface Section {
    /** Where the record's type byte is. */
    long offset();

    /** An iterative handler's first section (QEMU_VM_SECTION_START). */
    record Start(long offset, SectionHeader.Open header) implements Section {
    }

    /** A further section of the handler that {@code opener} started (QEMU_VM_SECTION_PART). */
    record Part(long offset, SectionHeader.Open opener) implements Section {
    }

    /** The last section of the handler that {@code opener} started (QEMU_VM_SECTION_END). */
    record End(long offset, SectionHeader.Open opener) implements Section {
    }

    /** A device's whole state in one section (QEMU_VM_SECTION_FULL). */
    record Full(long offset, SectionHeader.Open header) implements Section {
    }

    /** A COMMAND section with its payload (QEMU_VM_COMMAND). */
    record Command(long offset, MigrationCommand command, byte[] payload) implements Section {
    }

    /**
     * QEMU_VM_EOF: no section follows.
     *
     * @param vmdesc the vmdesc JSON after it, or null when the stream ends without one
     */
    record Eof(long offset, byte[] vmdesc) implements Section {
    }
}
