package dev.vmmigrate.ownsections;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Workload;
import dev.vmmigrate.ram.PageCrcs;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.vmstate.FieldValues;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class IntegrityDigestTest {
    /** Three slices and a bit: the parallel slicing and the short last slice both count. */
    private static final long RAM = (3L << 25) + 5L * TargetPage.SIZE;

    private RamBlock source;
    private RamBlock destination;

    @BeforeEach
    void blocks() {
        source = RamBlock.anonymous("ram", RAM);
        destination = RamBlock.anonymous("ram", RAM);
        Workload.fillHalfRandom(source, 7);
        Workload.fillHalfRandom(destination, 7);
    }

    @AfterEach
    void close() {
        source.close();
        destination.close();
    }

    private static FieldValues save(IntegrityDigest digest) {
        return digest.handler().saver().get();
    }

    /** What the destination says of the source's digest section. */
    private String verify(FieldValues sent) {
        IntegrityDigest received = new IntegrityDigest(List.of(destination), List.of(), Map::of);
        received.handler().loader().accept(sent);
        return received.mismatch(Map.of());
    }

    private static void flipBit(RamBlock block, long offset) {
        byte old = block.memory().get(ValueLayout.JAVA_BYTE, offset);
        block.memory().set(ValueLayout.JAVA_BYTE, offset, (byte) (old ^ 1));
    }

    @Test
    void equalRamVerifiesAndOneFlippedByteDoesNot() {
        FieldValues sent = save(new IntegrityDigest(List.of(source), List.of(), Map::of));
        assertNull(verify(sent));

        flipBit(destination, RAM - 1);
        String mismatch = verify(sent);
        assertTrue(mismatch != null && mismatch.startsWith("RAM digest mismatch"), mismatch);
    }

    /** The page CRCs a load into a fresh block would have taken of {@code block}'s pages. */
    private static PageCrcs pageCrcsOf(RamBlock block) {
        PageCrcs crcs = new PageCrcs(block.pageCount());
        for (long page = 0; page < block.pageCount(); page++) {
            crcs.wrote(page, block.memory().asSlice(page * TargetPage.SIZE, TargetPage.SIZE));
        }
        return crcs;
    }

    @Test
    void theDestinationCombinesThePageCrcsItsLoadTookInsteadOfReadingRam() {
        FieldValues sent = save(new IntegrityDigest(List.of(source), List.of(), Map::of));
        PageCrcs loaded = pageCrcsOf(destination);
        flipBit(destination, 5); // after the load took its CRCs: the digest does not read RAM again
        for (boolean early : new boolean[] {true, false}) {
            IntegrityDigest received = new IntegrityDigest(List.of(destination), List.of(), () -> Map.of(destination, loaded));
            received.handler().loader().accept(sent);
            if (early) {
                received.ramIsFinal(); // as the load does when it reaches the device sections
            }
            assertNull(received.mismatch(Map.of()), "from the page CRCs");
        }

        loaded.wrote(RAM / TargetPage.SIZE - 1, MemorySegment.ofArray(new byte[TargetPage.SIZE]).fill((byte) 1));
        IntegrityDigest received = new IntegrityDigest(List.of(destination), List.of(), () -> Map.of(destination, loaded));
        received.handler().loader().accept(sent);
        String mismatch = received.mismatch(Map.of());
        assertTrue(mismatch != null && mismatch.startsWith("RAM digest mismatch"), "a page loaded wrong: " + mismatch);
    }

    @Test
    void switchoverDigestEqualsTheDigestTakenInline() {
        IntegrityDigest digest = new IntegrityDigest(List.of(source), List.of(), Map::of);
        FieldValues inline = save(digest);
        digest.beginSwitchover();
        FieldValues begun = save(digest);
        assertEquals(inline.getLong("ram_crc32c"), begun.getLong("ram_crc32c"));
        assertNull(verify(begun));
    }

    @Test
    void aSaveAfterTheSwitchoverEndedDigestsRamAfresh() {
        IntegrityDigest digest = new IntegrityDigest(List.of(source), List.of(), Map::of);
        digest.beginSwitchover();
        long first = save(digest).getLong("ram_crc32c");
        digest.endSwitchover(); // say the migration failed and the guest ran on

        flipBit(source, 12345);
        long later = save(digest).getLong("ram_crc32c");
        assertNotEquals(first, later, "a later save must not reuse the digest of a switchover that ended");
    }
}
