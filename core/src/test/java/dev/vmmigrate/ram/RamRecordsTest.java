package dev.vmmigrate.ram;

import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.testing.ResidentPages;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.savevm.HandlerRegistry;
import dev.vmmigrate.savevm.LoadVm;
import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.LoadedPageCrcs;
import dev.vmmigrate.testing.Truncation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Golden bytes of every RAM record our {@link RamHandler} writes, and how its loader treats
 * good and bad records (QEMU 7.2's ram.c format, core/src/test/resources/qemu-streams/FACTS.md section 2).
 */
@Timeout(30)
class RamRecordsTest {
    private static final int PAGE = TargetPage.SIZE;
    /** Four pages: 0x4000 bytes. */
    private static final long SIZE = 4 * PAGE;
    /** START payload of one block "ram" of 0x4000 bytes: MEM_SIZE, the block, EOS. */
    private static final String START_RAM_4000 = "0000000000004004 03 72616d 0000000000004000 0000000000000010";

    private final List<RamBlock> opened = new ArrayList<>();

    @AfterEach
    void unmap() {
        opened.forEach(RamBlock::close);
    }

    private RamBlock block(String id, long length) {
        RamBlock block = RamBlock.anonymous(id, length);
        opened.add(block);
        return block;
    }

    /** Page content a: byte j of page i is (i*7 + j + salt). */
    private static byte[] pattern(int page, int salt) {
        byte[] b = new byte[PAGE];
        for (int j = 0; j < PAGE; j++) {
            b[j] = (byte) (page * 7 + j + salt);
        }
        return b;
    }

    private static void write(RamBlock block, int page, byte[] content) {
        MemorySegment.copy(content, 0, block.memory(), ValueLayout.JAVA_BYTE, (long) page * PAGE, PAGE);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            all.writeBytes(p);
        }
        return all.toByteArray();
    }

    /** The three payloads (START, PART, END) of a small block and the source after them. */
    private record Saved(byte[] start, byte[] part, byte[] end, RamBlock source) {
    }

    /**
     * Source "ram" of four pages: 0 and 1 zero, 2 and 3 patterned; after the PART, page 1 and 2
     * are rewritten and page 3 zeroed, all marked dirty, and the END sends them.
     */
    private Saved saveFourPages() throws IOException {
        RamBlock source = block("ram", SIZE);
        write(source, 2, pattern(2, 0));
        write(source, 3, pattern(3, 0));
        RamHandler handler = new RamHandler(List.of(source));

        ByteArrayOutputStream startBytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(startBytes)) {
            handler.saveSetup(out);
        }
        ByteArrayOutputStream partBytes = new ByteArrayOutputStream();
        boolean done;
        try (MigrationOutput out = MigrationOutput.to(partBytes)) {
            done = handler.saveIterate(out);
        }
        assertTrue(done, "an unlimited output sends every page in one PART");

        write(source, 1, pattern(1, 100));
        write(source, 2, pattern(2, 50));
        write(source, 3, new byte[PAGE]);
        source.dirty().mark(1);
        source.dirty().mark(2);
        source.dirty().mark(3);
        ByteArrayOutputStream endBytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(endBytes)) {
            handler.saveComplete(out);
        }
        return new Saved(startBytes.toByteArray(), partBytes.toByteArray(), endBytes.toByteArray(), source);
    }

    // ---------------------------------------------------------------- golden bytes

    @Test
    void startPayloadIsMemSizeThenEachBlockThenEos() throws IOException {
        Saved saved = saveFourPages();
        GoldenBytes.assertSame(Hex.bytes(START_RAM_4000), saved.start());
    }

    @Test
    void startPayloadListsEveryBlockWithTheSumOfTheirLengths() throws IOException {
        RamBlock a = block("mem", 2 * PAGE);
        RamBlock b = block("0000:00:02.0/vga.vram", PAGE);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            new RamHandler(List.of(a, b)).saveSetup(out);
        }
        GoldenBytes.assertSame(Hex.bytes("0000000000003004"
                        + " 03 6d656d 0000000000002000"
                        + " 15 303030303a30303a30322e302f7667612e7672616d 0000000000001000"
                        + " 0000000000000010"), bytes.toByteArray());
    }

    @Test
    void partPayloadHasZeroThenZeroContinueThenPageContinueRecordsThenEos() throws IOException {
        Saved saved = saveFourPages();
        byte[] expected = concat(
                Hex.bytes("0000000000000002 03 72616d 00"),   // ZERO, names the block, fill 0
                Hex.bytes("0000000000001022 00"),             // ZERO | CONTINUE
                Hex.bytes("0000000000002028"), pattern(2, 0), // PAGE | CONTINUE
                Hex.bytes("0000000000003028"), pattern(3, 0),
                Hex.bytes("0000000000000010"));               // EOS
        assertEquals(expected.length, saved.part().length);
        GoldenBytes.assertSame(expected, saved.part());
    }

    @Test
    void endPayloadNamesTheBlockInAPageRecordThenContinues() throws IOException {
        Saved saved = saveFourPages();
        byte[] expected = concat(
                Hex.bytes("0000000000001008 03 72616d"), pattern(1, 100), // PAGE, names the block
                Hex.bytes("0000000000002028"), pattern(2, 50),           // PAGE | CONTINUE
                Hex.bytes("0000000000003022 00"),                        // ZERO | CONTINUE
                Hex.bytes("0000000000000010"));
        GoldenBytes.assertSame(expected, saved.end());
    }

    @Test
    void aPageWithOneNonZeroByteIsSentWhole() throws IOException {
        RamBlock source = block("mem", PAGE);
        source.memory().set(ValueLayout.JAVA_BYTE, PAGE - 1, (byte) 1);
        RamHandler handler = new RamHandler(List.of(source));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            handler.saveSetup(out);
            handler.saveComplete(out);
        }
        byte[] page = new byte[PAGE];
        page[PAGE - 1] = 1;
        byte[] expected = concat(Hex.bytes("0000000000001004 03 6d656d 0000000000001000 0000000000000010"),
                Hex.bytes("0000000000000008 03 6d656d"), page, Hex.bytes("0000000000000010"));
        GoldenBytes.assertSame(expected, bytes.toByteArray());
        assertEquals(1, handler.stats().normalPages.get());
        assertEquals(PAGE, handler.stats().normalBytes.get());
        assertEquals(0, handler.stats().duplicatePages.get());
        assertEquals(expected.length, handler.stats().transferredBytes.get());
    }

    @Test
    void statsCountWhatThePayloadsCarried() throws IOException {
        RamBlock source = block("ram", SIZE);
        write(source, 2, pattern(2, 0));
        write(source, 3, pattern(3, 0));
        RamHandler handler = new RamHandler(List.of(source));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            handler.saveSetup(out);
            assertEquals(SIZE, handler.remainingBytes(), "every page is dirty for the first pass");
            handler.saveIterate(out);
            assertEquals(0, handler.remainingBytes());
        }
        assertEquals(2, handler.stats().duplicatePages.get());
        assertEquals(2, handler.stats().normalPages.get());
        assertEquals(2L * PAGE, handler.stats().normalBytes.get());
        assertEquals(bytes.size(), handler.stats().transferredBytes.get());
        assertEquals(SIZE, handler.totalBytes());
    }

    // ---------------------------------------------------------------- loading

    @Test
    void loadingStartPartAndEndReproducesTheMemory() throws IOException {
        Saved saved = saveFourPages();
        RamBlock target = block("ram", SIZE);
        target.memory().fill((byte) 0x77); // every page must be overwritten, zero pages included
        RamHandler handler = new RamHandler(List.of(target));
        MigrationInput in = MigrationInput.of(concat(saved.start(), saved.part(), saved.end()));
        handler.load(in, SectionType.START, RamHandler.VERSION);
        handler.load(in, SectionType.PART, RamHandler.VERSION);
        handler.load(in, SectionType.END, RamHandler.VERSION);
        assertTrue(in.atEnd());
        assertEquals(-1, target.memory().mismatch(saved.source().memory()));
        assertArrayEquals(pattern(1, 100), target.memory().asSlice(PAGE, PAGE).toArray(ValueLayout.JAVA_BYTE));
        assertArrayEquals(new byte[PAGE], target.memory().asSlice(0, PAGE).toArray(ValueLayout.JAVA_BYTE));
        assertEquals(List.of(new RamBlockSummary("ram", SIZE, 3, 4)), handler.loadedBlocks());
    }

    @Test
    void continueCrossesSectionBoundariesAsQemuDoes() throws IOException {
        byte[] stream = concat(Hex.bytes(START_RAM_4000),
                Hex.bytes("0000000000000008 03 72616d"), pattern(0, 1), Hex.bytes("0000000000000010"),
                Hex.bytes("0000000000001028"), pattern(1, 2), Hex.bytes("0000000000000010"));
        RamBlock target = block("ram", SIZE);
        RamHandler handler = new RamHandler(List.of(target));
        MigrationInput in = MigrationInput.of(stream);
        handler.load(in, SectionType.START, RamHandler.VERSION);
        handler.load(in, SectionType.PART, RamHandler.VERSION);
        handler.load(in, SectionType.PART, RamHandler.VERSION);
        assertArrayEquals(pattern(1, 2), target.memory().asSlice(PAGE, PAGE).toArray(ValueLayout.JAVA_BYTE));
    }

    @Test
    void zeroRecordWithANonZeroFillByteFillsThePage() throws IOException {
        byte[] stream = concat(Hex.bytes(START_RAM_4000),
                Hex.bytes("0000000000002002 03 72616d 5a 0000000000000010"));
        RamBlock target = block("ram", SIZE);
        RamHandler handler = new RamHandler(List.of(target));
        MigrationInput in = MigrationInput.of(stream);
        handler.load(in, SectionType.START, RamHandler.VERSION);
        handler.load(in, SectionType.PART, RamHandler.VERSION);
        byte[] filled = new byte[PAGE];
        java.util.Arrays.fill(filled, (byte) 0x5a);
        assertArrayEquals(filled, target.memory().asSlice(2L * PAGE, PAGE).toArray(ValueLayout.JAVA_BYTE));
        assertArrayEquals(new byte[PAGE], target.memory().asSlice(PAGE, PAGE).toArray(ValueLayout.JAVA_BYTE));
        LoadedPageCrcs.assertMatchMemory(handler, List.of(target));
    }

    @Test
    void zeroRecordsLeaveTheUnwrittenPagesOfAnUntouchedBlockUnfaulted() throws Throwable {
        int pages = 64;
        ByteArrayOutputStream stream = new ByteArrayOutputStream();
        stream.writeBytes(Hex.bytes(String.format("%016x 03 72616d %016x 0000000000000010",
                (long) pages * PAGE | RamFlags.MEM_SIZE, (long) pages * PAGE)));
        stream.writeBytes(Hex.bytes("0000000000000002 03 72616d 00"));
        for (int page = 1; page < pages; page++) {
            if (page == 5) {
                stream.writeBytes(Hex.bytes(String.format("%016x", (long) page * PAGE | RamFlags.PAGE | RamFlags.CONTINUE)));
                stream.writeBytes(pattern(page, 0));
            } else {
                stream.writeBytes(Hex.bytes(String.format("%016x 00", (long) page * PAGE | RamFlags.ZERO | RamFlags.CONTINUE)));
            }
        }
        stream.writeBytes(Hex.bytes("0000000000000010"));
        try (RamBlock target = RamBlock.anonymous("ram", (long) pages * PAGE)) {
            RamHandler handler = new RamHandler(List.of(target));
            MigrationInput in = MigrationInput.of(stream.toByteArray());
            handler.load(in, SectionType.START, RamHandler.VERSION);
            handler.load(in, SectionType.PART, RamHandler.VERSION);
            assertEquals(1, ResidentPages.count(target.memory()), "only the data page is faulted in");
            assertArrayEquals(pattern(5, 0), target.memory().asSlice(5L * PAGE, PAGE).toArray(ValueLayout.JAVA_BYTE));
            assertEquals(List.of(new RamBlockSummary("ram", (long) pages * PAGE, pages - 1, 1)), handler.loadedBlocks());
            LoadedPageCrcs.assertMatchMemory(handler, List.of(target));
        }
    }

    @Test
    void sendingReadsNoZeroPageThatWasNeverWritten() throws Throwable {
        int pages = 64;
        try (RamBlock source = RamBlock.anonymous("ram", (long) pages * PAGE)) {
            write(source, 9, pattern(9, 0));
            RamHandler handler = new RamHandler(List.of(source));
            ByteArrayOutputStream sent = new ByteArrayOutputStream();
            try (MigrationOutput out = MigrationOutput.to(sent)) {
                handler.saveSetup(out);
                assertTrue(handler.saveIterate(out));
            }
            assertEquals(1, ResidentPages.count(source.memory()), "only the written page was read");
            assertEquals(pages - 1, handler.stats().duplicatePages.get());
            assertEquals(1, handler.stats().normalPages.get());
            handler.cleanup();
        }
    }

    @Test
    void zeroRecordClearsAPageTheLoadWroteEarlierIntoAnUntouchedBlock() throws IOException {
        byte[] stream = concat(Hex.bytes(START_RAM_4000),
                Hex.bytes("0000000000001008 03 72616d"), pattern(1, 9), Hex.bytes("0000000000000010"),
                Hex.bytes("0000000000001022 00 0000000000000010"));
        try (RamBlock target = RamBlock.anonymous("ram", SIZE)) {
            RamHandler handler = new RamHandler(List.of(target));
            MigrationInput in = MigrationInput.of(stream);
            handler.load(in, SectionType.START, RamHandler.VERSION);
            handler.load(in, SectionType.PART, RamHandler.VERSION);
            assertArrayEquals(pattern(1, 9), target.memory().asSlice(PAGE, PAGE).toArray(ValueLayout.JAVA_BYTE));
            handler.load(in, SectionType.PART, RamHandler.VERSION);
            assertArrayEquals(new byte[PAGE], target.memory().asSlice(PAGE, PAGE).toArray(ValueLayout.JAVA_BYTE));
            LoadedPageCrcs.assertMatchMemory(handler, List.of(target)); // the page's CRC is a zero page's again
        }
    }

    @Test
    void versionOtherThanFourIsRefused() {
        RamHandler handler = new RamHandler(List.of(block("ram", SIZE)));
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> handler.load(MigrationInput.of(Hex.bytes(START_RAM_4000)), SectionType.START, 3));
        assertTrue(e.getMessage().contains("ram section version 3, expected 4"), e.getMessage());
    }

    /** Loads START_RAM_4000 into a fresh 4-page "ram", then {@code part} as a PART. */
    private StreamFormatException refusedPart(byte[] part) {
        RamHandler handler = new RamHandler(List.of(block("ram", SIZE)));
        MigrationInput in = MigrationInput.of(concat(Hex.bytes(START_RAM_4000), part));
        return assertThrows(StreamFormatException.class, () -> {
            handler.load(in, SectionType.START, RamHandler.VERSION);
            handler.load(in, SectionType.PART, RamHandler.VERSION);
        });
    }

    @ParameterizedTest
    @ValueSource(ints = {0x80, 0xa0, 0x01, 0x0a, 0x400})
    void unknownFlagsAreRefusedWithTheRecordOffset(int flags) {
        byte[] part = concat(Hex.bytes(String.format("%016x", 0x1000L | flags)), Hex.bytes("03 72616d"),
                new byte[PAGE], Hex.bytes("0000000000000010"));
        StreamFormatException e = refusedPart(part);
        int startLength = Hex.bytes(START_RAM_4000).length;
        assertEquals(startLength, e.offset());
        assertTrue(e.getMessage().contains(String.format("unknown RAM record flags 0x%x", flags)), e.getMessage());
        assertTrue(e.getMessage().endsWith("at offset " + startLength), e.getMessage());
    }

    @Test
    void multifdFlushNamesTheCapability() {
        StreamFormatException e = refusedPart(Hex.bytes("0000000000000200 0000000000000010"));
        assertEquals("RAM record MULTIFD_FLUSH: the source used QEMU's multifd capability and sent most "
                + "pages on extra connections (receive takes them with --capability multifd and its "
                + "--multifd-channels; inspect sees only this stream) at offset "
                + Hex.bytes(START_RAM_4000).length, e.getMessage());
    }

    @Test
    void xbzrleRecordWithAnotherEncodingFlagIsRefused() {
        StreamFormatException e = refusedPart(concat(Hex.bytes("0000000000001040 03 72616d 02 0003 640122"),
                Hex.bytes("0000000000000010")));
        assertTrue(e.getMessage().contains("unknown XBZRLE encoding flag 0x02"), e.getMessage());
    }

    @Test
    void xbzrleRecordAppliesItsDeltaToThePage() throws IOException {
        RamBlock target = block("ram", SIZE);
        RamHandler handler = new RamHandler(List.of(target));
        MigrationInput in = MigrationInput.of(concat(Hex.bytes(START_RAM_4000),
                Hex.bytes("0000000000001040 03 72616d 01 0003 640122 0000000000000010")));
        handler.load(in, SectionType.START, RamHandler.VERSION);
        handler.load(in, SectionType.PART, RamHandler.VERSION);
        assertEquals(0x22, target.memory().get(java.lang.foreign.ValueLayout.JAVA_BYTE, PAGE + 100));
    }

    @Test
    void compressedPageWithoutAnnouncementIsRefused() {
        StreamFormatException e = refusedPart(concat(Hex.bytes("0000000000001100 03 72616d 00000004 01020304"),
                Hex.bytes("0000000000000010")));
        assertTrue(e.getMessage().contains("did not announce zstd compression"), e.getMessage());
    }

    @Test
    void continueWithNoPreviousBlockIsRefused() {
        StreamFormatException e = refusedPart(concat(Hex.bytes("0000000000000028"), new byte[PAGE]));
        assertEquals(28, e.offset());
        assertTrue(e.getMessage().contains("continues a block but none came before"), e.getMessage());
    }

    @Test
    void recordForABlockThatWasNotAnnouncedIsRefused() {
        StreamFormatException e = refusedPart(concat(Hex.bytes("0000000000000008 03 6d656d"), new byte[PAGE]));
        assertEquals(28, e.offset());
        assertTrue(e.getMessage().contains("'mem'"), e.getMessage());
        assertTrue(e.getMessage().contains("did not announce"), e.getMessage());
    }

    @Test
    void offsetBeyondTheBlockIsRefused() {
        StreamFormatException e = refusedPart(concat(Hex.bytes("0000000000004008 03 72616d"), new byte[PAGE]));
        assertEquals(28, e.offset());
        assertTrue(e.getMessage().contains("RAM offset 0x4000 is beyond block 'ram' (16384 bytes)"), e.getMessage());

        StreamFormatException zero = refusedPart(Hex.bytes("0000000000005002 03 72616d 00"));
        assertTrue(zero.getMessage().contains("RAM offset 0x5000 is beyond block 'ram'"), zero.getMessage());
    }

    /** An offset so large that offset + page size overflows a long must not slip past the bounds check. */
    @Test
    void hugeOffsetThatOverflowsIsRefused() {
        StreamFormatException page = refusedPart(concat(Hex.bytes("7ffffffffffff008 03 72616d"), new byte[PAGE]));
        assertEquals(28, page.offset());
        assertTrue(page.getMessage().contains("beyond block 'ram'"), page.getMessage());

        StreamFormatException zero = refusedPart(Hex.bytes("7ffffffffffff002 03 72616d 00"));
        assertTrue(zero.getMessage().contains("beyond block 'ram'"), zero.getMessage());
    }

    @Test
    void blockNameUnknownToTheGuestIsRefusedNamingBoth() {
        RamHandler handler = new RamHandler(List.of(block("ram", SIZE)));
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> handler.load(
                MigrationInput.of(Hex.bytes("0000000000004004 03 6d656d 0000000000004000 0000000000000010")),
                SectionType.START, RamHandler.VERSION));
        assertEquals(8, e.offset());
        assertTrue(e.getMessage().contains("RAM block 'mem' is not in this guest (it has: ram)"), e.getMessage());
    }

    @Test
    void blockLengthDifferentFromTheGuestsIsRefusedNamingTheBlock() {
        RamHandler handler = new RamHandler(List.of(block("ram", SIZE)));
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> handler.load(
                MigrationInput.of(Hex.bytes("0000000000008004 03 72616d 0000000000008000 0000000000000010")),
                SectionType.START, RamHandler.VERSION));
        assertEquals(8, e.offset());
        assertTrue(e.getMessage().contains("RAM block 'ram' has 32768 bytes in the stream but 16384 in this guest"),
                e.getMessage());
    }

    @Test
    void memSizeSmallerThanTheBlocksIsRefused() {
        RamHandler handler = new RamHandler(List.of(block("ram", SIZE)));
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> handler.load(
                MigrationInput.of(Hex.bytes("0000000000002004 03 72616d 0000000000004000 0000000000000010")),
                SectionType.START, RamHandler.VERSION));
        assertEquals(8, e.offset());
        assertTrue(e.getMessage().contains("RAM block 'ram' announced with bad length 16384 (total 8192)"),
                e.getMessage());
    }

    @Test
    void memSizeLargerThanTheBlocksIsRefused() {
        RamHandler handler = new RamHandler(List.of(block("ram", SIZE)));
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> handler.load(
                MigrationInput.of(Hex.bytes("0000000000008004 03 72616d 0000000000004000 0000000000000010")),
                SectionType.START, RamHandler.VERSION));
        assertTrue(e.offset() >= 20, e.getMessage());
    }

    @Test
    void blockAnnouncedTwiceIsRefused() {
        RamHandler handler = new RamHandler((id, length, offset) -> null);
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> handler.load(
                MigrationInput.of(Hex.bytes("0000000000008004 03 72616d 0000000000004000 03 72616d 0000000000004000"
                        + " 0000000000000010")),
                SectionType.START, RamHandler.VERSION));
        assertEquals(20, e.offset());
        assertTrue(e.getMessage().contains("'ram' announced twice"), e.getMessage());
    }

    @Test
    void truncatedStartPayloadFailsCleanly() {
        RamBlock target = block("ram", SIZE);
        Truncation.assertFailsCleanlyWhenCut(Hex.bytes(START_RAM_4000),
                in -> new RamHandler(List.of(target)).load(in, SectionType.START, RamHandler.VERSION));
    }

    @Test
    void truncatedPartPayloadFailsCleanly() throws IOException {
        Saved saved = saveFourPages();
        RamBlock target = block("ram", SIZE);
        Truncation.assertFailsCleanlyWhenCut(saved.part(), in -> {
            RamHandler handler = new RamHandler(List.of(target));
            handler.load(MigrationInput.of(saved.start()), SectionType.START, RamHandler.VERSION);
            handler.load(in, SectionType.PART, RamHandler.VERSION);
        });
        Truncation.assertFailsCleanlyWhenCut(saved.end(), in -> {
            RamHandler handler = new RamHandler(List.of(target));
            handler.load(MigrationInput.of(saved.start()), SectionType.START, RamHandler.VERSION);
            handler.load(in, SectionType.END, RamHandler.VERSION);
        });
    }

    // ---------------------------------------------------------------- a real QEMU stream

    @Test
    void qemuNone2mStreamLoadsIntoA2MiBBlockNamedMem() throws IOException {
        try (Guest guest = Guest.builder().ramId("mem").ramSize(2 << 20).incoming(true).build()) {
            RamHandler ram = new RamHandler(guest.ramBlocks());
            HandlerRegistry registry = new HandlerRegistry().add(ram);
            guest.deviceHandlers().stream()
                    .filter(d -> !d.idstr().startsWith(HandlerRegistry.OWN_PREFIX))
                    .forEach(registry::add);
            LoadVm.Result result = new LoadVm(registry, "none")
                    .load(MigrationInput.of(CapturedStreams.bytes(CapturedStreams.NONE_2M)));

            byte[] loaded = guest.ramBlocks().getFirst().memory().toArray(ValueLayout.JAVA_BYTE);
            byte[] expected = CapturedStreams.none2mRam();
            assertEquals(-1, MemorySegment.ofArray(expected).mismatch(MemorySegment.ofArray(loaded)),
                    "RAM differs from the generator");
            assertEquals(List.of(new RamBlockSummary("mem", 2 << 20, 255, 257)), ram.loadedBlocks());
            assertEquals(RunState.PRELAUNCH, guest.globalState().runState());
            assertEquals(java.util.Set.of("ram", "timer", "globalstate"), result.sections());
        }
    }
}
