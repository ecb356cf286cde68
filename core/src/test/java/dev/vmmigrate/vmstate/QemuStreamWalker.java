package dev.vmmigrate.vmstate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * A minimal walker over a whole QEMU migration stream, for tests only (the real framing lives in
 * package savevm): finds the vmdesc as analyze-migration.py does (last NUL, then the first '{'
 * after it, checked against the 0x06 + be32 length before it), then walks header, configuration,
 * sections and footers, skipping RAM records and handing every device section to a visitor
 * positioned at its payload.
 */
final class QemuStreamWalker {
    static final int EOF = 0x00;
    static final int START = 0x01;
    static final int PART = 0x02;
    static final int END = 0x03;
    static final int FULL = 0x04;
    static final int CONFIGURATION = 0x07;
    static final int COMMAND = 0x08;
    static final int FOOTER = 0x7e;

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

    /** Walks the stream; returns the offset of the EOF byte. */
    static long walk(byte[] stream, DeviceVisitor visitor) throws IOException {
        JsonNode vmdesc = vmdesc(stream);
        int pageSize = vmdesc.get("page_size").intValue();
        MigrationInput in = MigrationInput.of(stream);
        if (in.readBe32() != 0x5145564d || in.readBe32() != 3) {
            throw new StreamFormatException("not a version 3 stream", 0);
        }
        Map<Integer, String> idstrs = new HashMap<>();
        int lastSection = -1;
        RamSkipper ram = new RamSkipper(pageSize);
        while (true) {
            long at = in.position();
            int type = in.readU8();
            switch (type) {
                case EOF -> {
                    return at;
                }
                case CONFIGURATION -> in.skip(in.readBe32());
                case START, FULL -> {
                    int id = in.readBe32();
                    String idstr = in.readCountedString();
                    int instance = in.readBe32();
                    int version = in.readBe32();
                    idstrs.put(id, idstr);
                    lastSection = id;
                    if (idstr.equals("ram")) {
                        ram.skip(in);
                    } else {
                        visitor.visit(new Section(id, idstr, instance, version, in.position()), vmdesc, in);
                        if (in.peekU8() != FOOTER) {
                            throw new StreamFormatException("section '" + idstr + "' not followed by its footer",
                                    in.position());
                        }
                    }
                }
                case PART, END -> {
                    int id = in.readBe32();
                    lastSection = id;
                    if (!"ram".equals(idstrs.get(id))) {
                        throw new StreamFormatException("PART/END of unknown section " + id, at);
                    }
                    ram.skip(in);
                }
                case FOOTER -> {
                    int id = in.readBe32();
                    if (id != lastSection) {
                        throw new StreamFormatException("footer of section " + id + " after section " + lastSection, at);
                    }
                }
                case COMMAND -> {
                    in.readBe16();
                    in.skip(in.readBe16());
                }
                default -> throw new StreamFormatException("unknown section type " + type, at);
            }
        }
    }

    /** RAM records up to and including EOS (QEMU 7.2 ram.c flags). */
    private static final class RamSkipper {
        private final int pageSize;

        RamSkipper(int pageSize) {
            this.pageSize = pageSize;
        }

        void skip(MigrationInput in) throws IOException {
            while (true) {
                long at = in.position();
                long word = in.readBe64();
                long flags = word & (pageSize - 1);
                long addr = word & ~(long) (pageSize - 1);
                if ((flags & 0x04) != 0) { // MEM_SIZE
                    long total = addr;
                    while (total > 0) {
                        in.readCountedString();
                        total -= in.readBe64();
                    }
                    flags &= ~0x04L;
                }
                if ((flags & 0x02) != 0) { // ZERO
                    skipBlockName(in, flags);
                    in.readU8();
                    flags &= ~0x22L;
                } else if ((flags & 0x08) != 0) { // PAGE
                    skipBlockName(in, flags);
                    in.skip(pageSize);
                    flags &= ~0x28L;
                } else if ((flags & 0x40) != 0) { // XBZRLE
                    skipBlockName(in, flags);
                    in.readU8();
                    in.skip(in.readBe16());
                    flags &= ~0x60L;
                }
                if ((flags & 0x10) != 0) { // EOS
                    return;
                }
                if (flags != 0) {
                    throw new StreamFormatException("unknown RAM flags 0x" + Long.toHexString(flags), at);
                }
            }
        }

        private static void skipBlockName(MigrationInput in, long flags) throws IOException {
            if ((flags & 0x20) == 0) {
                in.readCountedString();
            }
        }
    }
}
