package dev.vmmigrate.ownsections;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Workload;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.vmstate.FieldValues;
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
        IntegrityDigest received = new IntegrityDigest(List.of(destination), List.of());
        received.handler().loader().accept(sent);
        return received.mismatch(Map.of());
    }

    private static void flipBit(RamBlock block, long offset) {
        byte old = block.memory().get(ValueLayout.JAVA_BYTE, offset);
        block.memory().set(ValueLayout.JAVA_BYTE, offset, (byte) (old ^ 1));
    }

    @Test
    void equalRamVerifiesAndOneFlippedByteDoesNot() {
        FieldValues sent = save(new IntegrityDigest(List.of(source), List.of()));
        assertNull(verify(sent));

        flipBit(destination, RAM - 1);
        String mismatch = verify(sent);
        assertTrue(mismatch != null && mismatch.startsWith("RAM digest mismatch"), mismatch);
    }

    @Test
    void switchoverDigestEqualsTheDigestTakenInline() {
        IntegrityDigest digest = new IntegrityDigest(List.of(source), List.of());
        FieldValues inline = save(digest);
        digest.beginSwitchover();
        FieldValues begun = save(digest);
        assertEquals(inline.getLong("ram_crc32c"), begun.getLong("ram_crc32c"));
        assertNull(verify(begun));
    }

    @Test
    void aSaveAfterTheSwitchoverEndedDigestsRamAfresh() {
        IntegrityDigest digest = new IntegrityDigest(List.of(source), List.of());
        digest.beginSwitchover();
        long first = save(digest).getLong("ram_crc32c");
        digest.endSwitchover(); // say the migration failed and the guest ran on

        flipBit(source, 12345);
        long later = save(digest).getLong("ram_crc32c");
        assertNotEquals(first, later, "a later save must not reuse the digest of a switchover that ended");
    }
}
