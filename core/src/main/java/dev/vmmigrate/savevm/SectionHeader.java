package dev.vmmigrate.savevm;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import java.io.IOException;
import java.util.Objects;

/** The header of a section: what follows its type byte, written and read side by side. */
public sealed interface SectionHeader {
    SectionType type();

    int sectionId();

    /** START or FULL: names the handler the section belongs to. */
    record Open(SectionType type, int sectionId, String idstr, int instanceId, int version) implements SectionHeader {
        public Open {
            if (!type.opensSection()) {
                throw new IllegalArgumentException(type + " does not open a section");
            }
            Objects.requireNonNull(idstr, "idstr");
        }
    }

    /** PART or END: refers back to a section opened by START. */
    record Continue(SectionType type, int sectionId) implements SectionHeader {
        public Continue {
            if (type != SectionType.PART && type != SectionType.END) {
                throw new IllegalArgumentException(type + " does not continue a section");
            }
        }
    }

    /** Writes the type byte and the header. */
    static void write(MigrationOutput out, SectionHeader header) throws IOException {
        out.putU8(header.type().code());
        out.putBe32(header.sectionId());
        if (header instanceof Open open) {
            out.putCountedString(open.idstr());
            out.putBe32(open.instanceId());
            out.putBe32(open.version());
        }
    }

    /** Reads a START or FULL header after its type byte, which the caller has already read. */
    static Open readOpen(MigrationInput in, SectionType type) throws IOException {
        int sectionId = in.readBe32();
        String idstr = in.readCountedString();
        int instanceId = in.readBe32();
        int version = in.readBe32();
        return new Open(type, sectionId, idstr, instanceId, version);
    }

    /** The footer QEMU writes after every section: 0x7e and the section id again. */
    static void writeFooter(MigrationOutput out, int sectionId) throws IOException {
        out.putU8(SectionType.FOOTER.code());
        out.putBe32(sectionId);
    }

    static void readFooter(MigrationInput in, int sectionId, String idstr) throws IOException {
        long at = in.position();
        int marker = in.readU8();
        if (marker != SectionType.FOOTER.code()) {
            throw new StreamFormatException(String.format(
                    "section %s (id %d) not followed by its footer: found 0x%02x, expected 0x7e",
                    StreamText.quote(idstr), sectionId, marker), at);
        }
        int footerId = in.readBe32();
        if (footerId != sectionId) {
            throw new StreamFormatException(String.format(
                    "footer of section %s names section id %d, expected %d", StreamText.quote(idstr), footerId,
                    sectionId), at);
        }
    }
}
