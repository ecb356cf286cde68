package dev.vmmigrate.vmstate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.Truncation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

class VmStateCodecTest {
    /** A struct with two fields, used inside {@link #ALL}. */
    static final VmStateDescription PAIR = new VmStateDescription("pair", 1, List.of(
            VmStateField.integer("a", FieldType.UINT16),
            VmStateField.bool("b")));

    static final VmStateDescription SUB = new VmStateDescription("dev/sub", 1, List.of(
            VmStateField.integer("extra", FieldType.UINT32)));

    /** Every field type, then one subsection sent when "flag" is true. */
    static final VmStateDescription ALL = new VmStateDescription("dev", 1, 1, List.of(
            VmStateField.integer("i8", FieldType.INT8),
            VmStateField.integer("i16", FieldType.INT16),
            VmStateField.integer("i32", FieldType.INT32),
            VmStateField.integer("i64", FieldType.INT64),
            VmStateField.integer("u8", FieldType.UINT8),
            VmStateField.integer("u16", FieldType.UINT16),
            VmStateField.integer("u32", FieldType.UINT32),
            VmStateField.integer("u64", FieldType.UINT64),
            VmStateField.bool("flag"),
            VmStateField.buffer("buf", 3),
            VmStateField.unused(2),
            VmStateField.struct("st", PAIR)),
            List.of(new VmStateDescription.Subsection(SUB, v -> v.getBoolean("flag"))));

    static final byte[] ALL_BYTES = Hex.bytes(""
            + "fe"                       // i8 = -2
            + " fffd"                    // i16 = -3
            + " fffffffc"                // i32 = -4
            + " fffffffffffffffb"        // i64 = -5
            + " c8"                      // u8 = 200
            + " beef"                    // u16
            + " deadbeef"                // u32
            + " 8000000000000001"        // u64
            + " 01"                      // flag
            + " 616263"                  // buf "abc"
            + " 0000"                    // unused
            + " 1234 00"                 // st {a, b}
            + " 05 07 6465762f737562"    // subsection "dev/sub"
            + " 00000001"                // its version
            + " 00000007");              // extra

    static FieldValues allValues() {
        return new FieldValues()
                .put("i8", -2L).put("i16", -3L).put("i32", -4L).put("i64", -5L)
                .put("u8", 200L).put("u16", 0xbeefL).put("u32", 0xdeadbeefL).put("u64", 0x8000000000000001L)
                .put("flag", true)
                .put("buf", new byte[] {'a', 'b', 'c'})
                .put("st", new FieldValues().put("a", 0x1234L).put("b", false))
                .put("dev/sub", new FieldValues().put("extra", 7L));
    }

    static byte[] save(VmStateDescription d, FieldValues v) throws IOException {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(sink)) {
            VmStateCodec.save(out, d, v);
        }
        return sink.toByteArray();
    }

    @Test
    void goldenBytesHaveTheExpectedLength() {
        assertEquals(39 + 17, ALL_BYTES.length, Hex.of(ALL_BYTES));
    }

    @Test
    void savesEveryFieldTypeBigEndianWithSubsection() throws IOException {
        assertEquals(Hex.of(ALL_BYTES), Hex.of(save(ALL, allValues())));
    }

    @Test
    void loadsTheGoldenBytesBack() throws IOException {
        MigrationInput in = MigrationInput.of(ALL_BYTES);
        FieldValues v = VmStateCodec.load(in, ALL, 1);
        assertEquals(ALL_BYTES.length, in.position());
        assertEquals(-2L, v.getLong("i8"));
        assertEquals(-3L, v.getLong("i16"));
        assertEquals(-4L, v.getLong("i32"));
        assertEquals(-5L, v.getLong("i64"));
        assertEquals(200L, v.getLong("u8"));
        assertEquals(0xbeefL, v.getLong("u16"));
        assertEquals(0xdeadbeefL, v.getLong("u32"));
        assertEquals(0x8000000000000001L, v.getLong("u64"));
        assertTrue(v.getBoolean("flag"));
        assertArrayEquals(new byte[] {'a', 'b', 'c'}, v.getBytes("buf"));
        assertFalse(v.has("unused"));
        assertEquals(0x1234L, v.getStruct("st").getLong("a"));
        assertFalse(v.getStruct("st").getBoolean("b"));
        assertEquals(7L, v.getStruct("dev/sub").getLong("extra"));
        // and what was loaded saves to the same bytes
        assertArrayEquals(ALL_BYTES, save(ALL, v));
    }

    @Test
    void subsectionLeftOutWhenNotNeededAndLoadStopsAtForeignBytes() throws IOException {
        FieldValues v = allValues().put("flag", false);
        byte[] bytes = save(ALL, v);
        assertEquals(39, bytes.length);
        assertEquals("00", Hex.of(bytes).substring(3 * 30, 3 * 30 + 2)); // flag byte
        byte[] followed = Hex.bytes(Hex.of(bytes) + " 7e 00000000"); // a section footer follows
        MigrationInput in = MigrationInput.of(followed);
        FieldValues loaded = VmStateCodec.load(in, ALL, 1);
        assertFalse(loaded.has("dev/sub"));
        assertEquals(39, in.position());
        assertEquals(0x7e, in.readU8());
    }

    @Test
    void unknownSubsectionIsRefusedWithItsNameAndOffset() {
        byte[] bytes = Hex.bytes(Hex.of(save0(allValues().put("flag", false)))
                + " 05 07 6465762f787878 00000001 00000007"); // "dev/xxx"
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> VmStateCodec.load(MigrationInput.of(bytes), ALL, 1));
        assertEquals(39, e.offset());
        assertTrue(e.getMessage().contains("'dev/xxx'"), e.getMessage());
    }

    @Test
    void subsectionOfAnotherDeviceAtTopLevelIsRefused() {
        byte[] bytes = Hex.bytes(Hex.of(save0(allValues().put("flag", false)))
                + " 05 07 6f74682f737562 00000001 00000007"); // "oth/sub"
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> VmStateCodec.load(MigrationInput.of(bytes), ALL, 1));
        assertTrue(e.getMessage().contains("'oth/sub'"), e.getMessage());
    }

    @Test
    void subsectionVersionTooNewIsRefused() {
        byte[] bytes = ALL_BYTES.clone();
        bytes[39 + 1 + 1 + 7 + 3] = 2; // subsection version 2, this side knows 1
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> VmStateCodec.load(MigrationInput.of(bytes), ALL, 1));
        assertEquals("subsection 'dev/sub': stream has version 2, this side knows up to 1 at offset 48",
                e.getMessage());
    }

    private static final VmStateDescription VERSIONED = new VmStateDescription("timer", 3, 2, List.of(
            VmStateField.integer("old", FieldType.UINT32),
            VmStateField.integer("new", FieldType.UINT32).since(3)), List.of());

    @Test
    void fieldsNewerThanTheStreamAreSkipped() throws IOException {
        MigrationInput in = MigrationInput.of(Hex.bytes("00000011 7e"));
        FieldValues v = VmStateCodec.load(in, VERSIONED, 2);
        assertEquals(0x11L, v.getLong("old"));
        assertFalse(v.has("new"));
        assertEquals(4, in.position());

        FieldValues both = VmStateCodec.load(MigrationInput.of(Hex.bytes("00000011 00000022")), VERSIONED, 3);
        assertEquals(0x22L, both.getLong("new"));
        assertEquals("00 00 00 11 00 00 00 22", Hex.of(save(VERSIONED, both)));
    }

    @Test
    void streamVersionsOutsideTheRangeAreRefusedWithTheOffset() throws IOException {
        MigrationInput in = MigrationInput.of(Hex.bytes("aabbccdd 00000011 00000022"));
        in.skip(4);
        StreamFormatException tooNew = assertThrows(StreamFormatException.class,
                () -> VmStateCodec.load(in, VERSIONED, 4));
        assertEquals("device 'timer': stream has version 4, this side knows up to 3 at offset 4", tooNew.getMessage());
        assertEquals(4, tooNew.offset());
        StreamFormatException tooOld = assertThrows(StreamFormatException.class,
                () -> VmStateCodec.load(MigrationInput.of(new byte[8]), VERSIONED, 1));
        assertEquals("device 'timer': stream has version 1, this side needs at least 2 at offset 0", tooOld.getMessage());
    }

    @Test
    void truncatedInputFailsCleanly() {
        Truncation.assertFailsCleanlyWhenCut(ALL_BYTES, in -> VmStateCodec.load(in, ALL, 1));
    }

    @Test
    void badValuesAreRefusedNamingTheField() {
        IllegalArgumentException shortBuffer = assertThrows(IllegalArgumentException.class,
                () -> save(ALL, allValues().put("buf", new byte[2])));
        assertTrue(shortBuffer.getMessage().contains("dev.buf"), shortBuffer.getMessage());
        IllegalArgumentException tooBig = assertThrows(IllegalArgumentException.class,
                () -> save(ALL, allValues().put("u8", 256L)));
        assertTrue(tooBig.getMessage().contains("dev.u8"), tooBig.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> save(ALL, allValues().put("st", null)));
        assertTrue(missing.getMessage().contains("dev.st"), missing.getMessage());
        IllegalArgumentException noSub = assertThrows(IllegalArgumentException.class,
                () -> save(ALL, allValues().put("dev/sub", null)));
        assertTrue(noSub.getMessage().contains("dev/sub"), noSub.getMessage());
    }

    @Test
    void signedAndUnsignedFormsOfTheSameBitsAreAccepted() throws IOException {
        FieldValues v = allValues().put("u8", -1L).put("i8", 0xffL).put("u32", -1L);
        byte[] bytes = save(ALL, v);
        assertEquals("ff", Hex.of(bytes).substring(0, 2));
        assertEquals("ff", Hex.of(bytes).substring(3 * 15, 3 * 15 + 2));
    }

    // ------------------------------------------------ subsections and structs: whose header is it?

    static final VmStateDescription INNER = new VmStateDescription("inner", 1, 1,
            List.of(VmStateField.integer("x", FieldType.UINT8)),
            List.of(new VmStateDescription.Subsection(new VmStateDescription("inner/opt", 1,
                    List.of(VmStateField.integer("y", FieldType.UINT8))), v -> v.getLong("x") > 0)));

    static final VmStateDescription OUTER = new VmStateDescription("outer", 1, 1,
            List.of(VmStateField.struct("in", INNER), VmStateField.integer("after", FieldType.UINT64)),
            List.of(new VmStateDescription.Subsection(new VmStateDescription("outer/opt", 1,
                    List.of(VmStateField.integer("z", FieldType.UINT16))), v -> true)));

    @Test
    void dataAfterAStructThatLooksLikeASubsectionIsData() throws IOException {
        // "after" begins 05 01: a header too short for "inner/", so it is not a subsection.
        FieldValues v = new FieldValues()
                .put("in", new FieldValues().put("x", 0L))
                .put("after", 0x0501_7878_7878_7878L)
                .put("outer/opt", new FieldValues().put("z", 9L));
        byte[] bytes = save(OUTER, v);
        assertEquals("00 05 01 78 78 78 78 78 78 05 09 6f 75 74 65 72 2f 6f 70 74 00 00 00 01 00 09",
                Hex.of(bytes));
        MigrationInput in = MigrationInput.of(bytes);
        FieldValues loaded = VmStateCodec.load(in, OUTER, 1);
        assertEquals(bytes.length, in.position());
        assertEquals(0x0501_7878_7878_7878L, loaded.getLong("after"));
        assertEquals(9L, loaded.getStruct("outer/opt").getLong("z"));
        assertFalse(loaded.getStruct("in").has("inner/opt"));
    }

    @Test
    void nestedSubsectionsGoToTheirOwnLevel() throws IOException {
        // "after" is 05 06 "outerX": long enough for "inner/", but not "inner..." either.
        FieldValues v = new FieldValues()
                .put("in", new FieldValues().put("x", 1L).put("inner/opt", new FieldValues().put("y", 2L)))
                .put("after", 0x0506_6f75_7465_7258L)
                .put("outer/opt", new FieldValues().put("z", 9L));
        byte[] bytes = save(OUTER, v);
        FieldValues loaded = VmStateCodec.load(MigrationInput.of(bytes), OUTER, 1);
        assertEquals(2L, loaded.getStruct("in").getStruct("inner/opt").getLong("y"));
        assertEquals(0x0506_6f75_7465_7258L, loaded.getLong("after"));
        assertEquals(9L, loaded.getStruct("outer/opt").getLong("z"));
        assertArrayEquals(bytes, save(OUTER, loaded));
    }

    @Test
    void outerSubsectionAfterAStructThatEndsTheFieldsGoesToTheOuterLevel() throws IOException {
        VmStateDescription outer = new VmStateDescription("outer", 1, 1,
                List.of(VmStateField.struct("in", INNER)), OUTER.subsections());
        FieldValues v = new FieldValues()
                .put("in", new FieldValues().put("x", 0L))
                .put("outer/opt", new FieldValues().put("z", 9L));
        byte[] bytes = save(outer, v);
        FieldValues loaded = VmStateCodec.load(MigrationInput.of(bytes), outer, 1);
        assertEquals(9L, loaded.getStruct("outer/opt").getLong("z"));
    }

    private static byte[] save0(FieldValues v) {
        try {
            return save(ALL, v);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
