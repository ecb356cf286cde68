package dev.vmmigrate.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.ram.PageCrcs;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.ram.RamHandler;
import java.util.Map;
import java.util.zip.CRC32C;

/** Checks the page CRCs a load took (what the destination's digest combines) against the memory it left. */
public final class LoadedPageCrcs {
    private LoadedPageCrcs() {
    }

    /** Every block of {@code ram}'s load was fresh: its page CRCs, combined, are the CRC32C of its memory now. */
    public static void assertMatchMemory(RamHandler ram, Iterable<RamBlock> blocks) {
        Map<RamBlock, PageCrcs> loaded = ram.loadedPageCrcs();
        for (RamBlock block : blocks) {
            PageCrcs pages = loaded.get(block);
            assertTrue(pages != null, "the load took page CRCs of fresh block " + block.id());
            CRC32C memory = new CRC32C();
            memory.update(block.memory().asByteBuffer());
            assertEquals(memory.getValue(), pages.crc(0, block.pageCount()),
                    "block " + block.id() + ": the page CRCs the load took differ from its memory");
        }
    }
}
