package dev.vmmigrate.ram;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PageMapTest {
    private static final int PAGE = TargetPage.SIZE;

    @TempDir
    Path dir;

    @Test
    void onlyPagesNeverTouchedAreNeverBacked() {
        long pages = 3L * PageMap.WINDOW + 7; // several windows, the last one partial
        try (RamBlock block = RamBlock.anonymous("ram", pages * PAGE); PageMap pageMap = PageMap.open()) {
            assertNotNull(pageMap, "Linux has /proc/self/pagemap");
            block.memory().set(ValueLayout.JAVA_BYTE, 3L * PAGE + 17, (byte) 1);
            block.memory().set(ValueLayout.JAVA_BYTE, (pages - 1) * PAGE, (byte) 1);
            assertTrue(block.isZeroPage(PageMap.WINDOW + 5)); // a read maps the zero page in
            assertFalse(block.neverBacked(pageMap, 3), "written");
            assertFalse(block.neverBacked(pageMap, pages - 1), "written, in the last window");
            assertFalse(block.neverBacked(pageMap, PageMap.WINDOW + 5), "read: backed by the zero page");
            assertTrue(block.neverBacked(pageMap, 2));
            assertTrue(block.neverBacked(pageMap, 4));
            assertTrue(block.neverBacked(pageMap, 2L * PageMap.WINDOW + 1));
            assertTrue(block.neverBacked(pageMap, 0), "looking back to an earlier window");
        }
    }

    @Test
    void aWindowIsASnapshotUntilForgotten() {
        try (RamBlock block = RamBlock.anonymous("ram", 8L * PAGE); PageMap pageMap = PageMap.open()) {
            assertTrue(block.neverBacked(pageMap, 2));
            block.memory().set(ValueLayout.JAVA_BYTE, 2L * PAGE, (byte) 1);
            assertTrue(block.neverBacked(pageMap, 2), "the window read before the write");
            pageMap.forget();
            assertFalse(block.neverBacked(pageMap, 2));
        }
    }

    @Test
    void onHugePagesTheRegionsNothingWasWrittenInAreNeverBacked() {
        long region = 512; // pages in 2 MiB
        try (RamBlock block = RamBlock.anonymous("ram", 4 * region * PAGE, RamBlock.Pages.HUGE);
             PageMap pageMap = PageMap.open()) {
            block.memory().set(ValueLayout.JAVA_BYTE, region * PAGE, (byte) 1);
            assertFalse(block.neverBacked(pageMap, region));
            assertTrue(block.neverBacked(pageMap, 0));
            assertTrue(block.neverBacked(pageMap, 3 * region + 9));
        }
    }

    @Test
    void aFileBlockIsNeverSaidToBeUnbacked() throws IOException {
        try (RamBlock block = RamBlock.mapFile("ram", dir.resolve("guest.ram"), 4L * PAGE);
             PageMap pageMap = PageMap.open()) {
            assertFalse(block.neverBacked(pageMap, 1), "a file's page may be in the page cache, unmapped here");
        }
    }
}
