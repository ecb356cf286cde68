package dev.vmmigrate.ram;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.TargetPage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import dev.vmmigrate.testing.LoadedPageCrcs;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Resizing the XBZRLE cache of a running save, as the seeds' migrate_set_cache_size does through
 * xbzrle_cache_resize (2014): the cache is replaced at once by an empty one, so pages cached
 * before miss and go whole; the same size keeps it. The stream loads to the source's RAM either way.
 */
class XbzrleResizeTest {
    private static final int PAGE = TargetPage.SIZE;
    private static final int PAGES = 16;

    private final List<RamBlock> opened = new ArrayList<>();

    @AfterEach
    void unmap() {
        opened.forEach(RamBlock::close);
    }

    private RamBlock block() {
        RamBlock block = RamBlock.anonymous("ram", (long) PAGES * PAGE);
        opened.add(block);
        return block;
    }

    /** Changes one byte of every page (an XBZRLE delta of a few bytes) and marks them dirty. */
    private static void touchEveryPage(RamBlock block, int round) {
        for (int page = 0; page < PAGES; page++) {
            block.memory().set(ValueLayout.JAVA_BYTE, (long) page * PAGE + 100, (byte) (round * 31 + page + 1));
            block.dirty().mark(page);
        }
    }

    /** A save of 16 non-zero pages with a cache of {@code cacheBytes}, pass by pass, into one stream. */
    private static final class Save {
        final RamBlock source;
        final RamHandler handler;
        final ByteArrayOutputStream stream = new ByteArrayOutputStream();

        Save(RamBlock source, long cacheBytes) {
            this.source = source;
            for (int page = 0; page < PAGES; page++) {
                source.memory().asSlice((long) page * PAGE, PAGE).fill((byte) (page + 1));
            }
            handler = new RamHandler(List.of(source));
            handler.configure(new RamSaveOptions(cacheBytes, null));
        }

        void setup() throws IOException {
            try (MigrationOutput out = MigrationOutput.to(stream)) {
                handler.saveSetup(out);
            }
        }

        void pass(int round) throws IOException {
            if (round > 1) {
                touchEveryPage(source, round);
                handler.pending(Long.MAX_VALUE); // syncs the dirty pages in
            }
            try (MigrationOutput out = MigrationOutput.to(stream)) {
                assertTrue(handler.saveIterate(out), "one PART sends every dirty page");
            }
        }

        RamStats stats() {
            return handler.stats();
        }
    }

    /** Passes 1 and 2: the second caches every page. */
    private Save twoPasses() throws IOException {
        Save save = new Save(block(), (long) PAGES * PAGE);
        save.setup();
        save.pass(1);
        save.pass(2);
        assertEquals(PAGES, save.stats().xbzrleCacheMiss.get(), "the second pass caches every page");
        assertEquals(0, save.stats().xbzrlePages.get());
        return save;
    }

    @Test
    void withoutAResizeTheThirdPassGoesAsDeltas() throws IOException {
        Save save = twoPasses();
        save.pass(3);
        assertEquals(PAGES, save.stats().xbzrlePages.get());
        assertLoadsAsTheSource(save);
    }

    @Test
    void aResizeDropsTheCachedPages() throws IOException {
        Save save = twoPasses();
        save.handler.resizeXbzrleCache(8L * PAGE);
        assertEquals(8L * PAGE, save.handler.options().xbzrleCacheBytes());
        save.pass(3);
        assertEquals(0, save.stats().xbzrlePages.get(), "nothing cached survived the resize");
        assertEquals(2L * PAGES, save.stats().xbzrleCacheMiss.get());
        save.pass(4);
        assertEquals(8, save.stats().xbzrlePages.get(), "the 8-page cache holds half the pages again");
        assertLoadsAsTheSource(save);
    }

    @Test
    void aResizeToTheSameSizeKeepsTheCache() throws IOException {
        Save save = twoPasses();
        save.handler.resizeXbzrleCache((long) PAGES * PAGE);
        save.pass(3);
        assertEquals(PAGES, save.stats().xbzrlePages.get());
        assertLoadsAsTheSource(save);
    }

    @Test
    void withoutXbzrleThereIsNoCacheToResize() {
        RamHandler handler = new RamHandler(List.of(block()));
        handler.resizeXbzrleCache(8L * PAGE);
        assertEquals(RamSaveOptions.PLAIN, handler.options(), "XBZRLE stays off");
    }

    /** The START and PART payloads written so far load into a fresh block equal to the source. */
    private void assertLoadsAsTheSource(Save save) throws IOException {
        RamBlock target = block();
        RamHandler loader = new RamHandler(List.of(target));
        MigrationInput in = MigrationInput.of(save.stream.toByteArray());
        loader.load(in, SectionType.START, RamHandler.VERSION);
        while (!in.atEnd()) {
            loader.load(in, SectionType.PART, RamHandler.VERSION);
        }
        assertEquals(-1, target.memory().mismatch(save.source.memory()), "the destination's RAM is the source's");
        LoadedPageCrcs.assertMatchMemory(loader, List.of(target)); // XBZRLE pages decoded in place
    }
}
