package dev.vmmigrate.ram;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The destination's postcopy pages across a broken link: a request that cannot be sent leaves
 * the guest waiting (never running on with a missing page), the received bitmap is what a
 * recovering source gets, and after RESUME_ACK every page waited for is asked for again.
 */
class PostcopyPagesTest {
    @Test
    void aGuestWaitsThroughABrokenLinkAndItsPageIsAskedForAgain() throws Exception {
        List<String> asked = new CopyOnWriteArrayList<>();
        java.util.concurrent.atomic.AtomicBoolean linkUp = new java.util.concurrent.atomic.AtomicBoolean();
        PostcopyPages pages = new PostcopyPages(Map.of("ram", new long[] {0b1011}), (block, offset, length) -> {
            if (!linkUp.get()) {
                throw new IOException("Broken pipe");
            }
            asked.add(block + "@" + offset + "+" + length);
        });
        assertArrayEquals(new long[] {0b1011}, pages.present("ram"));
        assertNull(pages.present("other"));
        Thread guest = Thread.ofVirtual().start(() -> pages.await("ram", 2));
        guest.join(300);
        assertTrue(guest.isAlive(), "the guest waits for page 2 although its request could not be sent");

        linkUp.set(true);
        assertEquals(1, pages.requestAgain());
        assertEquals(List.of("ram@" + 2 * TargetPage.SIZE + "+" + TargetPage.SIZE), asked);
        assertTrue(guest.isAlive());
        pages.arrived("ram", 2);
        guest.join(TimeUnit.SECONDS.toMillis(10));
        assertTrue(!guest.isAlive(), "the page came: the guest goes on");
        assertArrayEquals(new long[] {0b1111}, pages.present("ram"));
        assertEquals(0, pages.requestAgain(), "nothing waited for is missing now");
        assertEquals(1, pages.faults());
    }
}
