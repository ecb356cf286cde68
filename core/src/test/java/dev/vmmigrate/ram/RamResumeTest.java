package dev.vmmigrate.ram;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.stream.TruncatedStreamException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What a resumed migration sends again (RamHandler.resume) and what a destination says it holds
 * (receivedPages, QEMU's receivedmap), on a 16-page block whose pages all differ.
 */
class RamResumeTest {
    private static final int PAGES = 16;
    private static final long ALL = (1L << PAGES) - 1;

    private final List<RamBlock> opened = new ArrayList<>();

    @AfterEach
    void unmap() {
        opened.forEach(RamBlock::close);
    }

    private RamBlock block(boolean filled) {
        RamBlock block = RamBlock.anonymous("ram", (long) PAGES * TargetPage.SIZE);
        opened.add(block);
        if (filled) {
            for (int page = 0; page < PAGES; page++) {
                block.memory().asSlice((long) page * TargetPage.SIZE, TargetPage.SIZE).fill((byte) (page + 1));
            }
        }
        return block;
    }

    /** A save whose first pass sent every page; {@code offsets[p]} is where page p's record began. */
    private record Sent(RamHandler handler, long[] offsets, long end, byte[] stream) {
    }

    private Sent firstPass(boolean resumable) throws IOException {
        RamHandler handler = new RamHandler(List.of(block(true)));
        handler.configure(new RamSaveOptions(0, null, resumable));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        long[] offsets = new long[PAGES];
        long end;
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            handler.saveSetup(out);
            long start = out.position();
            assertTrue(handler.saveIterate(out));
            end = out.position();
            // The first record names the block (1 + 3 bytes), the rest continue it; each is 8 + 4096 bytes.
            for (int page = 0; page < PAGES; page++) {
                offsets[page] = start + (page == 0 ? 0 : 4 + (long) page * (8 + TargetPage.SIZE));
            }
        }
        assertEquals(0, handler.remainingBytes(), "the pass sent every page");
        return new Sent(handler, offsets, end, bytes.toByteArray());
    }

    private static Map<String, long[]> holding(long bits) {
        return Map.of("ram", new long[] {bits});
    }

    @Test
    void pagesSentFromTheResumePointGoAgain() throws IOException {
        Sent sent = firstPass(true);
        // The destination read every section whole up to page 10's record: pages 10..15 go again.
        assertEquals(6, sent.handler().resume(sent.offsets()[10], holding(ALL)));
        assertEquals(6L * TargetPage.SIZE, sent.handler().remainingBytes());
        // Already dirty pages are not counted twice.
        assertEquals(0, sent.handler().resume(sent.offsets()[12], holding(ALL)));
    }

    @Test
    void sentPagesTheDestinationLacksGoAgain() throws IOException {
        Sent sent = firstPass(true);
        long lacking = ALL & ~(1L << 3) & ~(1L << 7);
        assertEquals(2, sent.handler().resume(sent.end(), holding(lacking)));
        assertEquals(2L * TargetPage.SIZE, sent.handler().remainingBytes());
    }

    @Test
    void aResumeWithoutTheBlocksBitmapIsRefusedByName() throws IOException {
        Sent sent = firstPass(true);
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> sent.handler().resume(sent.end(), Map.of("pc.ram", new long[] {ALL})));
        assertEquals("the destination's bitmap of RAM block 'ram' is missing", missing.getMessage());
        IllegalArgumentException tooShort = assertThrows(IllegalArgumentException.class,
                () -> sent.handler().resume(sent.end(), Map.of("ram", new long[0])));
        assertEquals("the destination's bitmap of RAM block 'ram' covers 0 pages, not 16", tooShort.getMessage());
    }

    /**
     * Postcopy recovery (QEMU's ram_dirty_bitmap_reload): after the first pass, pages 2 and 5
     * still dirty, the destination holding all but pages 5 and 9; then exactly 5 and 9 are to
     * send, 9 counted as lost with the old link (it had been sent), 2 dropped (the destination
     * holds it). Needs no resumable save; a missing bitmap is refused by name.
     */
    @Test
    void postcopyRecoverySendsExactlyThePagesTheDestinationLacks() throws IOException {
        Sent sent = firstPass(false);
        RamBlock block = opened.getFirst();
        block.dirty().mark(2);
        block.dirty().mark(5);
        sent.handler().postcopyDiscards(); // the switch's sync: 2 and 5 are dirty
        assertEquals(2L * TargetPage.SIZE, sent.handler().remainingBytes());
        assertEquals(1, sent.handler().reloadFromReceived(holding(ALL & ~(1L << 5) & ~(1L << 9))));
        assertEquals(2L * TargetPage.SIZE, sent.handler().remainingBytes());
        assertEquals(List.of("ram"), sent.handler().blockIds());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> sent.handler().reloadFromReceived(Map.of("pc.ram", new long[] {ALL})));
        assertEquals("the destination's bitmap of RAM block 'ram' is missing", missing.getMessage());
    }

    @Test
    void aSaveNotMadeResumableCannotResume() throws IOException {
        Sent sent = firstPass(false);
        assertThrows(IllegalStateException.class, () -> sent.handler().resume(0, holding(ALL)));
    }

    @Test
    void theDestinationHoldsEveryPageItReadWhole() throws IOException {
        byte[] stream = firstPass(true).stream();
        RamHandler whole = new RamHandler(List.of(block(false)));
        MigrationInput in = MigrationInput.of(stream);
        whole.load(in, SectionType.START, RamHandler.VERSION);
        whole.load(in, SectionType.PART, RamHandler.VERSION);
        assertArrayEquals(new long[] {ALL}, whole.receivedPages().get("ram"));

        // Cut inside page 5's data: pages 0..4 are held, 5 is not.
        int cut = (int) (firstPassStart(stream) + 4 + 5 * (8 + TargetPage.SIZE) + 100);
        RamHandler partial = new RamHandler(List.of(block(false)));
        MigrationInput cutIn = MigrationInput.of(Arrays.copyOf(stream, cut));
        partial.load(cutIn, SectionType.START, RamHandler.VERSION);
        assertThrows(TruncatedStreamException.class, () -> partial.load(cutIn, SectionType.PART, RamHandler.VERSION));
        assertArrayEquals(new long[] {(1L << 5) - 1}, partial.receivedPages().get("ram"));
    }

    /** Where the pass begins: after MEM_SIZE, the counted id, the length and EOS. */
    private static long firstPassStart(byte[] stream) {
        return 8 + 1 + "ram".length() + 8 + 8;
    }
}
