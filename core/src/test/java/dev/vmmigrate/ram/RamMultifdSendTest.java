package dev.vmmigrate.ram;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.TargetPage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The RAM section with multifd channels (RamHandler.sendPagesThrough): whole pages go to the
 * channels, zero pages stay on the main stream, and a page sent again always has a sync point
 * between its copies; the main stream marks exactly the sync points the sender made, as our
 * receiver (and QEMU's ram_load_precopy) reads them, with MULTIFD_FLUSH records or at each EOS.
 */
class RamMultifdSendTest {
    private static final int PAGES = 64;
    private static final int ZERO_EVERY = 4;

    private final List<RamBlock> opened = new ArrayList<>();

    @AfterEach
    void unmap() {
        opened.forEach(RamBlock::close);
    }

    /** Records what the RAM section hands over, in order: "page N" and "sync". */
    private static final class RecordingChannels implements PageChannels {
        final List<String> events = new ArrayList<>();
        final boolean flushRecords;

        RecordingChannels(boolean flushRecords) {
            this.flushRecords = flushRecords;
        }

        @Override
        public long queuePage(RamBlock block, long offset) {
            events.add("page " + offset / TargetPage.SIZE);
            return TargetPage.SIZE;
        }

        @Override
        public long sync() {
            events.add("sync");
            return 0;
        }

        @Override
        public boolean flushRecords() {
            return flushRecords;
        }

        long syncs() {
            return events.stream().filter("sync"::equals).count();
        }
    }

    /** Counts the sync points the receiving RAM section waits at. */
    private static final class CountingSideChannels implements SideChannels {
        int syncs;

        @Override
        public void blocksAnnounced(Map<String, ? extends PageTarget> blocks) {
        }

        @Override
        public void sync(long offset) {
            syncs++;
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void pagesSentAgainHaveASyncPointBetweenTheirCopies(boolean flushRecords) throws Throwable {
        RamBlock block = RamBlock.anonymous("ram", (long) PAGES * TargetPage.SIZE);
        opened.add(block);
        for (int page = 0; page < PAGES; page++) {
            if (page % ZERO_EVERY != 0) {
                block.memory().asSlice((long) page * TargetPage.SIZE, TargetPage.SIZE).fill((byte) page);
            }
        }
        RamHandler handler = new RamHandler(List.of(block));
        RecordingChannels channels = new RecordingChannels(flushRecords);
        handler.sendPagesThrough(channels);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int sections = 0;
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            handler.saveSetup(out);
            sections++;
            assertTrue(handler.saveIterate(out), "one pass sends every page");
            sections++;
            for (int round = 0; round < 3; round++) {
                // The guest writes pages 5..9 again: the next bitmap sync makes them dirty.
                for (int page = 5; page < 10; page++) {
                    block.memory().asSlice((long) page * TargetPage.SIZE, 1).fill((byte) (round + 100));
                    block.dirty().mark(page);
                }
                handler.pending(Long.MAX_VALUE);
                handler.saveIterate(out);
                sections++;
            }
            handler.saveComplete(out);
            sections++;
        }
        handler.cleanup();

        // Between two sync points a page goes at most once, and never a zero one.
        Set<String> sinceSync = new HashSet<>();
        for (String event : channels.events) {
            if (event.equals("sync")) {
                sinceSync.clear();
                continue;
            }
            assertTrue(sinceSync.add(event), event + " went twice without a sync point between: " + channels.events);
            int page = Integer.parseInt(event.substring(5));
            boolean rewritten = page >= 5 && page < 10;
            assertFalse(page % ZERO_EVERY == 0 && !rewritten, "zero page " + page + " went to a channel");
        }
        assertEquals(PAGES - PAGES / ZERO_EVERY + 3 * 5, channels.events.size() - channels.syncs(),
                "every non-zero page once, then pages 5..9 (8 no longer zero) in each of three rounds");
        if (flushRecords) {
            assertTrue(channels.syncs() < sections, "QEMU 8.0+'s form syncs once a round, not every section: "
                    + channels.events);
        } else {
            assertEquals(sections, channels.syncs(), "QEMU 7.2's form: a sync point at the end of every RAM section");
        }
        assertEquals("sync", channels.events.getLast(), "the last pages are followed by a sync point");

        // The receiving side waits at the same sync points, whichever way the stream marks them.
        RamBlock loaded = RamBlock.anonymous("ram", (long) PAGES * TargetPage.SIZE);
        opened.add(loaded);
        RamHandler receiver = new RamHandler(List.of(loaded));
        CountingSideChannels side = new CountingSideChannels();
        receiver.acceptSideChannels(side);
        MigrationInput in = MigrationInput.of(bytes.toByteArray());
        for (int section = 0; section < sections; section++) {
            receiver.load(in, section == 0 ? SectionType.START : SectionType.PART, RamHandler.VERSION);
        }
        assertEquals(channels.syncs(), side.syncs, "the receiver's sync points are the sender's");
        assertEquals(PAGES / ZERO_EVERY, receiver.loadedBlocks().getFirst().zeroPages(),
                "the zero pages came on the main stream");
        // A receiver without channels reads no MULTIFD_FLUSH record: only QEMU 8.0+'s form has them.
        RamBlock plainBlock = RamBlock.anonymous("ram", (long) PAGES * TargetPage.SIZE);
        opened.add(plainBlock);
        RamHandler plain = new RamHandler(List.of(plainBlock));
        MigrationInput again = MigrationInput.of(bytes.toByteArray());
        org.junit.jupiter.api.function.Executable loadAll = () -> {
            for (int section = 0; section < 2; section++) {
                plain.load(again, section == 0 ? SectionType.START : SectionType.PART, RamHandler.VERSION);
            }
        };
        if (flushRecords) {
            var refused = org.junit.jupiter.api.Assertions.assertThrows(
                    dev.vmmigrate.stream.StreamFormatException.class, loadAll);
            assertTrue(refused.getMessage().contains("MULTIFD_FLUSH"), refused.getMessage());
        } else {
            loadAll.execute();
        }
    }
}
