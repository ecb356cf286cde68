package dev.vmmigrate.vmstate;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Writes and reads a device's fields as QEMU's vmstate_save_state / vmstate_load_state do
 * (migration/vmstate.c): the fields in order, big-endian, then each subsection as
 * {@code 0x05}, u8 length + name, be32 version, and its own fields and subsections.
 *
 * <p>Stateless: every buffer size comes from the description, never from the stream, so a
 * hostile stream cannot make the loader allocate more than the description allows.
 */
public final class VmStateCodec {
    /** QEMU_VM_SUBSECTION: the byte that opens a subsection. */
    public static final int SUBSECTION = 0x05;

    private static final byte[] ZEROS = new byte[1024];

    private VmStateCodec() {
    }

    /**
     * Writes {@code v} as described by {@code d} at version {@code d.version()}.
     *
     * @throws IllegalArgumentException when a value is missing, of the wrong kind, out of range
     *     for its type, or a buffer of the wrong length (the message names the field)
     */
    public static void save(MigrationOutput out, VmStateDescription d, FieldValues v) throws IOException {
        saveState(out, d, v, d.name());
    }

    /** The bytes {@link #save} writes, for state kept or digested outside a stream. */
    public static byte[] encode(VmStateDescription d, FieldValues v) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            save(out, d, v);
        } catch (IOException e) {
            throw new UncheckedIOException("writing to memory failed", e); // a heap buffer does not
        }
        return bytes.toByteArray();
    }

    /**
     * Reads the fields of {@code d} as written at {@code streamVersion} (the version the section
     * or subsection header carried), then the subsections that belong to {@code d}.
     *
     * @return integers as {@code Long} (unsigned ones zero-extended, uint64 as its bit pattern),
     *     bools, buffers as {@code byte[]}, structs and loaded subsections (under the
     *     subsection's name) as nested {@code FieldValues}; unused buffers are skipped
     * @throws StreamFormatException on a version this side cannot load, an unknown subsection, or
     *     truncated input, naming the offset
     */
    public static FieldValues load(MigrationInput in, VmStateDescription d, int streamVersion) throws IOException {
        FieldValues values = loadState(in, d, streamVersion, "device", in.position());
        requireNoSubsection(in, d);
        return values;
    }

    // ---------------------------------------------------------------- save

    private static void saveState(MigrationOutput out, VmStateDescription d, FieldValues v, String path)
            throws IOException {
        if (v == null) {
            throw new IllegalArgumentException("no values for " + StreamText.quote(path) + "");
        }
        for (VmStateField f : d.fields()) {
            if (f.sinceVersion() > d.version()) {
                continue; // QEMU's vmstate_field_exists at the saved version
            }
            saveField(out, f, v, path + "." + f.name());
        }
        for (VmStateDescription.Subsection sub : d.subsections()) {
            if (!sub.needed().test(v)) {
                continue;
            }
            VmStateDescription sd = sub.description();
            Object nested = v.get(sd.name());
            if (!(nested instanceof FieldValues subValues)) {
                throw new IllegalArgumentException("subsection " + StreamText.quote(sd.name()) + " of '" + path
                        + "' is needed but has no values");
            }
            out.putU8(SUBSECTION);
            out.putCountedString(sd.name());
            out.putBe32(sd.version());
            saveState(out, sd, subValues, sd.name());
        }
    }

    private static void saveField(MigrationOutput out, VmStateField f, FieldValues v, String path)
            throws IOException {
        switch (f.type()) {
            case INT8, UINT8 -> out.putU8((int) integer(f, v, path));
            case INT16, UINT16 -> out.putBe16((int) integer(f, v, path));
            case INT32, UINT32 -> out.putBe32((int) integer(f, v, path));
            case INT64, UINT64 -> out.putBe64(integer(f, v, path));
            case BOOL -> {
                if (!(v.get(f.name()) instanceof Boolean b)) {
                    throw wrongKind(path, "a Boolean", v.get(f.name()));
                }
                out.putU8(b ? 1 : 0);
            }
            case BUFFER -> {
                if (!(v.get(f.name()) instanceof byte[] bytes)) {
                    throw wrongKind(path, "a byte[] of " + f.size() + " bytes", v.get(f.name()));
                }
                if (bytes.length != f.size()) {
                    throw new IllegalArgumentException("field " + StreamText.quote(path) + ": buffer of " + bytes.length
                            + " bytes, the description says " + f.size());
                }
                out.putBytes(bytes);
            }
            case UNUSED_BUFFER -> {
                for (int left = f.size(); left > 0; left -= ZEROS.length) {
                    out.putBytes(ZEROS, 0, Math.min(left, ZEROS.length));
                }
            }
            case STRUCT -> {
                if (!(v.get(f.name()) instanceof FieldValues nested)) {
                    throw wrongKind(path, "nested FieldValues", v.get(f.name()));
                }
                saveState(out, f.struct(), nested, path);
            }
        }
    }

    /** The value as a long, checked to fit the field's width as a signed or an unsigned number. */
    private static long integer(VmStateField f, FieldValues v, String path) {
        Object value = v.get(f.name());
        if (!(value instanceof Number n) || value instanceof Double || value instanceof Float) {
            throw wrongKind(path, "an integer", value);
        }
        long x = n.longValue();
        int bits = f.size() * 8;
        if (bits < 64 && (x < -(1L << (bits - 1)) || x >= (1L << bits))) {
            throw new IllegalArgumentException("field " + StreamText.quote(path) + ": " + x + " does not fit "
                    + f.type().vmdescName());
        }
        return x;
    }

    private static IllegalArgumentException wrongKind(String path, String expected, Object actual) {
        return new IllegalArgumentException("field " + StreamText.quote(path) + ": expected " + expected + ", got "
                + (actual == null ? "no value" : actual.getClass().getSimpleName()));
    }

    // ---------------------------------------------------------------- load

    private static FieldValues loadState(MigrationInput in, VmStateDescription d, int version, String kind,
            long versionOffset) throws IOException {
        if (version > d.version()) {
            throw new StreamFormatException(kind + " " + StreamText.quote(d.name()) + ": stream has version " + version
                    + ", this side knows up to " + d.version(), versionOffset);
        }
        if (version < d.minimumVersion()) {
            throw new StreamFormatException(kind + " " + StreamText.quote(d.name()) + ": stream has version " + version
                    + ", this side needs at least " + d.minimumVersion(), versionOffset);
        }
        FieldValues values = new FieldValues();
        for (VmStateField f : d.fields()) {
            if (f.sinceVersion() > version) {
                continue;
            }
            loadField(in, f, values);
        }
        loadSubsections(in, d, values);
        return values;
    }

    private static void loadField(MigrationInput in, VmStateField f, FieldValues values) throws IOException {
        switch (f.type()) {
            case INT8 -> values.put(f.name(), (long) (byte) in.readU8());
            case UINT8 -> values.put(f.name(), (long) in.readU8());
            case INT16 -> values.put(f.name(), (long) (short) in.readBe16());
            case UINT16 -> values.put(f.name(), (long) in.readBe16());
            case INT32 -> values.put(f.name(), (long) in.readBe32());
            case UINT32 -> values.put(f.name(), in.readBe32() & 0xffffffffL);
            case INT64, UINT64 -> values.put(f.name(), in.readBe64());
            case BOOL -> values.put(f.name(), in.readU8() != 0);
            case BUFFER -> values.put(f.name(), in.readBytes(f.size()));
            case UNUSED_BUFFER -> in.skip(f.size());
            case STRUCT -> {
                // QEMU loads a VMS_STRUCT at the nested description's own version.
                VmStateDescription nested = f.struct();
                values.put(f.name(), loadState(in, nested, nested.version(), "struct", in.position()));
            }
        }
    }

    /**
     * QEMU 7.2's vmstate_subsection_load: a subsection header is peeked, not consumed, until it
     * is known to belong to {@code d}; one that does not is left for an outer level.
     */
    private static void loadSubsections(MigrationInput in, VmStateDescription d, FieldValues values)
            throws IOException {
        byte[] parent = d.name().getBytes(StandardCharsets.UTF_8);
        while (in.peekU8() == SUBSECTION) {
            long headerOffset = in.position();
            byte[] header = in.peekBytes(2);
            if (header.length < 2) {
                return; // the stream ends after the marker: not a subsection
            }
            int len = header[1] & 0xff;
            if (len < parent.length + 1) {
                return; // too short to be "parent/x": not ours
            }
            // Only as many bytes as the header claims, as QEMU does: a live stream may not have more yet.
            header = in.peekBytes(2 + len);
            if (header.length < 2 + len) {
                return; // the stream ends inside what would be the name: not a subsection
            }
            if (!Arrays.equals(header, 2, 2 + parent.length, parent, 0, parent.length)) {
                return; // belongs to an outer level
            }
            String name = new String(header, 2, len, StandardCharsets.UTF_8);
            VmStateDescription sub = find(d, name);
            if (sub == null) {
                throw new StreamFormatException("unknown subsection " + StreamText.quote(name) + " of " + StreamText.quote(d.name()) + "",
                        headerOffset);
            }
            in.skip(2 + len);
            long versionOffset = in.position();
            int version = in.readBe32();
            values.put(name, loadState(in, sub, version, "subsection", versionOffset));
        }
    }

    private static VmStateDescription find(VmStateDescription d, String name) {
        for (VmStateDescription.Subsection s : d.subsections()) {
            if (s.description().name().equals(name)) {
                return s.description();
            }
        }
        return null;
    }

    /** After the top-level load: a subsection header nobody claimed is not part of this device. */
    private static void requireNoSubsection(MigrationInput in, VmStateDescription d) throws IOException {
        if (in.peekU8() != SUBSECTION) {
            return;
        }
        byte[] header = in.peekBytes(2);
        int len = header.length < 2 ? -1 : header[1] & 0xff;
        if (len >= 0) {
            header = in.peekBytes(2 + len);
        }
        if (len < 0 || header.length < 2 + len) {
            throw new StreamFormatException("truncated stream: subsection header cut short", in.position());
        }
        String name = new String(header, 2, len, StandardCharsets.UTF_8);
        throw new StreamFormatException("subsection " + StreamText.quote(name) + " does not belong to device '"
                + d.name() + "'", in.position());
    }
}
