package dev.vmmigrate.vmstate;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

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
        Loader loader = new Loader(in);
        FieldValues values = loader.loadState(d, streamVersion, "device", in.position());
        loader.requireNoLookahead(d);
        return values;
    }

    // ---------------------------------------------------------------- save

    private static void saveState(MigrationOutput out, VmStateDescription d, FieldValues v, String path)
            throws IOException {
        if (v == null) {
            throw new IllegalArgumentException("no values for '" + path + "'");
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
                throw new IllegalArgumentException("subsection '" + sd.name() + "' of '" + path
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
                    throw new IllegalArgumentException("field '" + path + "': buffer of " + bytes.length
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
            throw new IllegalArgumentException("field '" + path + "': " + x + " does not fit "
                    + f.type().vmdescName());
        }
        return x;
    }

    private static IllegalArgumentException wrongKind(String path, String expected, Object actual) {
        return new IllegalArgumentException("field '" + path + "': expected " + expected + ", got "
                + (actual == null ? "no value" : actual.getClass().getSimpleName()));
    }

    // ---------------------------------------------------------------- load

    /**
     * The load of one top-level description. QEMU decides whether a subsection header belongs to
     * the description at hand by peeking at its name without consuming it; MigrationInput peeks
     * one byte only, so the loader keeps the peeked header bytes in a small look-ahead that later
     * reads consume first.
     */
    private static final class Loader {
        /** 0x05, u8 length, up to 255 name bytes. */
        private static final int MAX_LOOKAHEAD = 257;

        private final MigrationInput in;
        private final byte[] ahead = new byte[MAX_LOOKAHEAD];
        private int aheadPos;
        private int aheadLen;

        Loader(MigrationInput in) {
            this.in = in;
        }

        FieldValues loadState(VmStateDescription d, int version, String kind, long versionOffset)
                throws IOException {
            if (version > d.version()) {
                throw new StreamFormatException(kind + " '" + d.name() + "': stream has version " + version
                        + ", this side knows up to " + d.version(), versionOffset);
            }
            if (version < d.minimumVersion()) {
                throw new StreamFormatException(kind + " '" + d.name() + "': stream has version " + version
                        + ", this side needs at least " + d.minimumVersion(), versionOffset);
            }
            FieldValues values = new FieldValues();
            for (VmStateField f : d.fields()) {
                if (f.sinceVersion() > version) {
                    continue;
                }
                loadField(f, values);
            }
            loadSubsections(d, values);
            return values;
        }

        private void loadField(VmStateField f, FieldValues values) throws IOException {
            switch (f.type()) {
                case INT8 -> values.put(f.name(), (long) (byte) readU8());
                case UINT8 -> values.put(f.name(), (long) readU8());
                case INT16 -> values.put(f.name(), (long) (short) readBe(2));
                case UINT16 -> values.put(f.name(), readBe(2));
                case INT32 -> values.put(f.name(), (long) (int) readBe(4));
                case UINT32 -> values.put(f.name(), readBe(4));
                case INT64, UINT64 -> values.put(f.name(), readBe(8));
                case BOOL -> values.put(f.name(), readU8() != 0);
                case BUFFER -> values.put(f.name(), readBytes(f.size()));
                case UNUSED_BUFFER -> skip(f.size());
                case STRUCT -> {
                    // QEMU loads a VMS_STRUCT at the nested description's own version.
                    VmStateDescription nested = f.struct();
                    values.put(f.name(), loadState(nested, nested.version(), "struct", position()));
                }
            }
        }

        /** QEMU 7.2's vmstate_subsection_load. */
        private void loadSubsections(VmStateDescription d, FieldValues values) throws IOException {
            byte[] parent = d.name().getBytes(StandardCharsets.UTF_8);
            while (peekU8() == SUBSECTION) {
                long headerOffset = position();
                if (!ensureAhead(2)) {
                    return; // the stream ends after the marker: not a subsection
                }
                int len = ahead[aheadPos + 1] & 0xff;
                if (len < parent.length + 1) {
                    return; // too short to be "parent/x": not ours
                }
                if (!ensureAhead(2 + len)) {
                    return; // the stream ends inside what would be the name: not a subsection
                }
                for (int i = 0; i < parent.length; i++) {
                    if (ahead[aheadPos + 2 + i] != parent[i]) {
                        return; // belongs to an outer level
                    }
                }
                String name = new String(ahead, aheadPos + 2, len, StandardCharsets.UTF_8);
                VmStateDescription sub = find(d, name);
                if (sub == null) {
                    throw new StreamFormatException("unknown subsection '" + name + "' of '" + d.name() + "'",
                            headerOffset);
                }
                aheadPos += 2 + len;
                long versionOffset = position();
                int version = (int) readBe(4);
                values.put(name, loadState(sub, version, "subsection", versionOffset));
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

        /** After the top-level load: a peeked header nobody claimed is not part of this device. */
        void requireNoLookahead(VmStateDescription d) throws StreamFormatException {
            int held = aheadLen - aheadPos;
            if (held == 0) {
                return;
            }
            int len = held >= 2 ? ahead[aheadPos + 1] & 0xff : -1;
            if (len < 0 || held < 2 + len) {
                throw new StreamFormatException("truncated stream: subsection header cut short", position());
            }
            String name = new String(ahead, aheadPos + 2, len, StandardCharsets.UTF_8);
            throw new StreamFormatException("subsection '" + name + "' does not belong to device '"
                    + d.name() + "'", position());
        }

        // ------------------------------------------------ reads through the look-ahead

        long position() {
            return in.position() - (aheadLen - aheadPos);
        }

        /** Makes {@code n} upcoming bytes available in the look-ahead; false if the stream ends first. */
        private boolean ensureAhead(int n) throws IOException {
            if (aheadLen - aheadPos >= n) {
                return true;
            }
            if (aheadPos > 0) {
                System.arraycopy(ahead, aheadPos, ahead, 0, aheadLen - aheadPos);
                aheadLen -= aheadPos;
                aheadPos = 0;
            }
            while (aheadLen < n) {
                if (in.peekU8() < 0) {
                    return false;
                }
                ahead[aheadLen++] = (byte) in.readU8();
            }
            return true;
        }

        private int peekU8() throws IOException {
            return aheadPos < aheadLen ? ahead[aheadPos] & 0xff : in.peekU8();
        }

        private int readU8() throws IOException {
            if (aheadPos < aheadLen) {
                return ahead[aheadPos++] & 0xff;
            }
            return in.readU8();
        }

        /** Big-endian unsigned value of {@code bytes} (1..8) bytes. */
        private long readBe(int bytes) throws IOException {
            if (aheadPos == aheadLen) {
                return switch (bytes) {
                    case 2 -> in.readBe16();
                    case 4 -> in.readBe32() & 0xffffffffL;
                    case 8 -> in.readBe64();
                    default -> throw new IllegalArgumentException("width " + bytes);
                };
            }
            long start = position();
            long value = 0;
            for (int i = 0; i < bytes; i++) {
                if (aheadPos == aheadLen && in.peekU8() < 0) {
                    throw new StreamFormatException("truncated stream: be" + bytes * 8 + " cut short", start);
                }
                value = (value << 8) | readU8();
            }
            return value;
        }

        private byte[] readBytes(int length) throws IOException {
            int fromAhead = Math.min(length, aheadLen - aheadPos);
            if (fromAhead == 0) {
                return in.readBytes(length);
            }
            byte[] bytes = new byte[length];
            System.arraycopy(ahead, aheadPos, bytes, 0, fromAhead);
            aheadPos += fromAhead;
            if (fromAhead < length) {
                byte[] rest = in.readBytes(length - fromAhead);
                System.arraycopy(rest, 0, bytes, fromAhead, rest.length);
            }
            return bytes;
        }

        private void skip(int length) throws IOException {
            int fromAhead = Math.min(length, aheadLen - aheadPos);
            aheadPos += fromAhead;
            if (fromAhead < length) {
                in.skip(length - fromAhead);
            }
        }
    }
}
