package dev.vmmigrate.vmstate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.savevm.SectionHeader;
import dev.vmmigrate.savevm.SectionReader;
import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.stream.MigrationInput;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * Walks a whole QEMU migration stream for the vmstate tests: finds the vmdesc as
 * analyze-migration.py does (last NUL, then the first '{' after it, checked against the 0x06 +
 * be32 length before it), then goes through the sections with savevm's SectionReader, counting
 * RAM records and handing every device section to a visitor positioned at its payload.
 */
final class QemuStreamWalker {

    record Section(int sectionId, String idstr, int instanceId, int version, long payloadOffset) {
    }

    @FunctionalInterface
    interface DeviceVisitor {
        /** Must consume exactly the section's payload. */
        void visit(Section section, JsonNode vmdesc, MigrationInput in) throws IOException;
    }

    private QemuStreamWalker() {
    }

    /** The vmdesc document at the end of {@code stream}. */
    static JsonNode vmdesc(byte[] stream) throws IOException {
        int nul = -1;
        for (int i = stream.length - 1; i >= 0; i--) {
            if (stream[i] == 0) {
                nul = i;
                break;
            }
        }
        int brace = -1;
        for (int i = Math.max(nul, 0); i < stream.length; i++) {
            if (stream[i] == '{') {
                brace = i;
                break;
            }
        }
        if (brace < 5 || stream[brace - 5] != 0x06) {
            throw new IOException("no vmdesc found");
        }
        int length = ((stream[brace - 4] & 0xff) << 24) | ((stream[brace - 3] & 0xff) << 16)
                | ((stream[brace - 2] & 0xff) << 8) | (stream[brace - 1] & 0xff);
        return new ObjectMapper().readTree(new String(stream, brace, length, StandardCharsets.UTF_8));
    }

    /** Walks the stream with the one section reader; returns the offset of the EOF byte. */
    static long walk(byte[] stream, DeviceVisitor visitor) throws IOException {
        JsonNode vmdesc = vmdesc(stream);
        SectionReader reader = new SectionReader(MigrationInput.of(stream));
        MigrationInput in = reader.input();
        RamHandler ram = new RamHandler((id, length, offset) -> null); // counts pages, keeps none
        while (true) {
            dev.vmmigrate.savevm.Section next = reader.next();
            switch (next) {
                case dev.vmmigrate.savevm.Section.Start start -> ram.load(in, SectionType.START, start.header().version());
                case dev.vmmigrate.savevm.Section.Part part -> ram.load(in, SectionType.PART, part.opener().version());
                case dev.vmmigrate.savevm.Section.End end -> ram.load(in, SectionType.END, end.opener().version());
                case dev.vmmigrate.savevm.Section.Full full -> {
                    SectionHeader.Open h = full.header();
                    visitor.visit(new Section(h.sectionId(), h.idstr(), h.instanceId(), h.version(), in.position()),
                            vmdesc, in);
                }
                case dev.vmmigrate.savevm.Section.Command command -> {
                    continue; // SWITCHOVER_START in QEMU 10 streams: no payload to visit
                }
                case dev.vmmigrate.savevm.Section.Eof eof -> {
                    return eof.offset();
                }
            }
            reader.finish(next);
        }
    }
}
