package dev.vmmigrate.savevm;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * The one walker of a stream's framing (the loop of savevm.c's qemu_loadvm_state_main): reads the
 * preamble, then yields each section as a {@link Section} record for an exhaustive switch. The
 * consumer reads a START, PART, END or FULL payload itself (RAM records, a VMState, ...) and then
 * calls {@link #finish}, which checks the footer (and does nothing for a COMMAND); PART and END come with the START they continue.
 * Load, inspect, save and relay all walk streams through this class.
 *
 * <pre>{@code
 * SectionReader reader = new SectionReader(in);
 * for (Section s = reader.next(); !(s instanceof Section.Eof); s = reader.next()) {
 *     switch (s) { case Section.Full full -> ...; ... }
 *     reader.finish(s);
 * }
 * }</pre>
 */
public final class SectionReader {
    /** Bounds the vmdesc: QEMU's for a full PC is a few hundred KiB. */
    public static final int MAX_VMDESC = 16 << 20;
    /**
     * Bounds the device sections kept as bytes, all of them together: QEMU's largest (VGA,
     * e1000) are a few KiB, a whole pc's a few hundred. Memory a receiver holds beside guest RAM.
     */
    public static final int MAX_OPAQUE_BYTES = 32 << 20;
    /**
     * Bounds START, FULL and COMMAND sections in one stream (inspect keeps a line for each; a
     * PART or END adds none): QEMU's pc has about a hundred devices.
     */
    public static final int MAX_SECTIONS = 1 << 16;
    /** Longest id string plus its length byte, instance id and version: what a header needs to be told apart. */
    private static final int MAX_OPEN_HEADER = 1 + 4 + 1 + 255 + 4 + 4;

    private MigrationInput in;
    private StreamPreamble preamble;
    private final Map<Integer, SectionHeader.Open> started = new HashMap<>();
    /** The section whose footer is next, or null. */
    private Section unfinished;
    private boolean atEof;
    /** A postcopy stream's EOF has no vmdesc after it, and its source waits for the verdict: do not wait for one. */
    private boolean postcopy;
    private int sections;
    private long opaqueBytes;

    public SectionReader(MigrationInput in) {
        this.in = in;
    }

    /** The input, positioned at the payload of the section just returned. */
    public MigrationInput input() {
        return in;
    }

    /**
     * Goes on reading from {@code next}, a resumed migration's new connection: the section whose
     * payload the break cut is dropped unfinished (the source sends what was in it again, in new
     * sections), and the sections started before it stay open.
     */
    public void resume(MigrationInput next) {
        if (atEof) {
            throw new IllegalStateException("the stream is at its EOF section");
        }
        in = next;
        unfinished = null;
    }

    /**
     * The stream switched to postcopy (QEMU's PACKAGED came): its EOF ends it with no vmdesc
     * (should_send_vmdesc is false in postcopy), and a source that waits for the SHUT sends
     * nothing more, so peeking for one would wait for ever.
     */
    public void postcopy() {
        postcopy = true;
    }

    /** Magic, version and configuration; read by the first call. */
    public StreamPreamble preamble() throws IOException {
        if (preamble == null) {
            preamble = StreamPreamble.read(in);
        }
        return preamble;
    }

    /** The next section; after a START, PART, END or FULL, call {@link #finish} before this again. */
    public Section next() throws IOException {
        if (unfinished != null) {
            throw new IllegalStateException("the footer of " + unfinished + " has not been read");
        }
        if (atEof) {
            throw new IllegalStateException("the stream is at its EOF section");
        }
        preamble();
        long at = in.position();
        SectionType type = SectionType.fromCode(in.readU8(), at);
        if ((type == SectionType.START || type == SectionType.FULL || type == SectionType.COMMAND)
                && ++sections > MAX_SECTIONS) {
            throw new StreamFormatException("more than " + MAX_SECTIONS + " START, FULL and COMMAND sections", at);
        }
        Section section = switch (type) {
            case START -> {
                SectionHeader.Open header = SectionHeader.readOpen(in, type);
                if (started.putIfAbsent(header.sectionId(), header) != null) {
                    throw new StreamFormatException("section id " + header.sectionId() + " ("
                            + StreamText.quote(header.idstr()) + ") started twice", at);
                }
                yield new Section.Start(at, header);
            }
            case FULL -> new Section.Full(at, SectionHeader.readOpen(in, type));
            case PART, END -> {
                int id = in.readBe32();
                SectionHeader.Open opener = started.get(id);
                if (opener == null) {
                    throw new StreamFormatException(type + " for section id " + id + " that no START opened", at);
                }
                yield type == SectionType.PART ? new Section.Part(at, opener) : new Section.End(at, opener);
            }
            case COMMAND -> readCommand(at);
            case EOF -> {
                atEof = true;
                yield new Section.Eof(at, readVmDesc());
            }
            case SUBSECTION, VMDESCRIPTION, CONFIGURATION, FOOTER ->
                    throw new StreamFormatException("unexpected " + type + " section", at);
        };
        if (!(section instanceof Section.Command) && !(section instanceof Section.Eof)) {
            unfinished = section;
        }
        return section;
    }

    /**
     * Reads and checks the footer of {@code section}, whose payload the caller has read. A COMMAND
     * has none: finishing it does nothing, so a loop can finish whatever it got.
     */
    public void finish(Section section) throws IOException {
        if (section instanceof Section.Command) {
            return;
        }
        if (section != unfinished) {
            throw new IllegalStateException(section + " is not the section awaiting its footer");
        }
        unfinished = null;
        SectionHeader.Open header = switch (section) {
            case Section.Start start -> start.header();
            case Section.Part part -> part.opener();
            case Section.End end -> end.opener();
            case Section.Full full -> full.header();
            case Section.Command command -> throw new AssertionError("returned above");
            case Section.Eof eof -> throw new IllegalStateException("EOF has no footer");
        };
        SectionHeader.readFooter(in, header.sectionId(), header.idstr());
    }

    /**
     * The payload of a device section this side has no description of, as bytes, exactly as sent.
     * QEMU's framing gives no length, so this reads up to the first footer of this section (0x7e
     * and its id) that a well-formed section or the EOF follows; the caller then calls
     * {@link #finish}. A device's own bytes would have to repeat that whole pattern to mislead it.
     */
    public byte[] readOpaquePayload(Section.Full full) throws IOException {
        if (full != unfinished) {
            throw new IllegalStateException(full + " is not the section being read");
        }
        SectionHeader.Open header = full.header();
        long start = in.position();
        ByteArrayOutputStream payload = new ByteArrayOutputStream();
        while (!footerFollows(header.sectionId())) {
            if (opaqueBytes + payload.size() >= MAX_OPAQUE_BYTES) {
                throw new StreamFormatException("device section " + StreamText.quote(header.idstr())
                        + " runs past " + MAX_OPAQUE_BYTES + " bytes of device state in all without its footer", start);
            }
            payload.write(in.readU8());
        }
        opaqueBytes += payload.size();
        return payload.toByteArray();
    }

    /** Whether the next bytes are this section's footer followed by a plausible next record. */
    private boolean footerFollows(int sectionId) throws IOException {
        if (in.peekU8() != SectionType.FOOTER.code()) {
            return false;
        }
        byte[] ahead = in.peekBytes(6);
        if (ahead.length < 5 || be32(ahead, 1) != sectionId) {
            return false;
        }
        if (ahead.length == 5) {
            return true; // the stream ends here: the footer is what is left
        }
        int next = ahead[5] & 0xff;
        if (next == SectionType.EOF.code()) {
            byte[] more = in.peekBytes(7);
            return more.length == 6 || (more[6] & 0xff) == SectionType.VMDESCRIPTION.code();
        }
        if (next == SectionType.FULL.code() || next == SectionType.START.code()) {
            return plausibleOpenHeader(in.peekBytes(5 + MAX_OPEN_HEADER), 5);
        }
        if (next == SectionType.PART.code() || next == SectionType.END.code()) {
            byte[] more = in.peekBytes(10);
            return more.length == 10 && started.containsKey(be32(more, 6));
        }
        if (next == SectionType.COMMAND.code()) {
            byte[] more = in.peekBytes(8);
            return more.length == 8 && ((more[6] & 0xff) << 8 | (more[7] & 0xff)) <= MigrationCommand.SWITCHOVER_START.code();
        }
        return false;
    }

    /** A START/FULL header at {@code at}: type, id, a printable id string, instance and version. */
    private static boolean plausibleOpenHeader(byte[] bytes, int at) {
        int nameAt = at + 6;
        if (bytes.length < nameAt) {
            return false;
        }
        int length = bytes[at + 5] & 0xff;
        if (length == 0 || bytes.length < nameAt + length + 8) {
            return false;
        }
        for (int i = nameAt; i < nameAt + length; i++) {
            if (bytes[i] < 0x20 || bytes[i] > 0x7e) {
                return false;
            }
        }
        return true;
    }

    private static int be32(byte[] bytes, int at) {
        return (bytes[at] & 0xff) << 24 | (bytes[at + 1] & 0xff) << 16 | (bytes[at + 2] & 0xff) << 8 | (bytes[at + 3] & 0xff);
    }

    private Section.Command readCommand(long at) throws IOException {
        MigrationCommand command = MigrationCommand.fromCode(in.readBe16(), at + 1);
        long lengthAt = in.position();
        int length = in.readBe16();
        if (command.length() >= 0 && length != command.length()) {
            throw new StreamFormatException("COMMAND " + command + " with a payload of " + length
                    + " bytes, expected " + command.length(), lengthAt);
        }
        return new Section.Command(at, command, in.readBytes(length));
    }

    /** The vmdesc is optional (QEMU reads it if present): null when the stream ends at EOF. */
    private byte[] readVmDesc() throws IOException {
        if (postcopy || in.atEnd() || in.peekU8() != SectionType.VMDESCRIPTION.code()) {
            return null;
        }
        in.readU8();
        long at = in.position();
        int length = in.readBe32();
        if (length < 0 || length > MAX_VMDESC) {
            throw new StreamFormatException("vmdesc of " + Integer.toUnsignedString(length)
                    + " bytes (at most " + MAX_VMDESC + ")", at);
        }
        return in.readBytes(length);
    }
}
