package dev.vmmigrate.savevm;

import dev.vmmigrate.stream.MigrationOutput;
import java.io.IOException;
import java.util.Objects;

/**
 * A FULL section as bytes: the header it came with and its payload exactly as sent, so a VM whose
 * devices this side cannot describe (QEMU's {@code pc}: CPUs, PCI, VGA, ...) goes back out
 * unchanged.
 */
public record DeviceSection(SectionHeader.Open header, byte[] payload) {
    public DeviceSection {
        Objects.requireNonNull(header, "header");
        Objects.requireNonNull(payload, "payload");
        if (header.type() != SectionType.FULL) {
            throw new IllegalArgumentException("a device section is FULL, not " + header.type());
        }
    }

    /** Header, payload and footer, as they were read. */
    public void write(MigrationOutput out) throws IOException {
        SectionHeader.write(out, header);
        out.putBytes(payload);
        SectionHeader.writeFooter(out, header.sectionId());
    }

    /** Its bytes on the wire, header and footer included. */
    public long wireBytes() {
        return 1 + 4 + 1 + header.idstr().getBytes(java.nio.charset.StandardCharsets.UTF_8).length + 4 + 4
                + payload.length + 5;
    }
}
