package dev.vmmigrate.multifd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link SyncPoints}: the main stream and every channel pass a sync point together, or all fail. */
@Timeout(30)
class MultifdSyncPointsTest {
    private static final Duration LONG = Duration.ofSeconds(60);

    @Test
    void aChannelWaitsForTheMainStreamAndTheMainStreamForEveryChannel() throws Exception {
        SyncPoints sync = new SyncPoints(2);
        sync.connected(0);
        sync.connected(1);
        AtomicBoolean channel0Passed = new AtomicBoolean();
        CountDownLatch channel0Waiting = new CountDownLatch(1);
        CompletableFuture<Void> channel0 = CompletableFuture.runAsync(() -> {
            try {
                channel0Waiting.countDown();
                sync.channelArrived(0);
                channel0Passed.set(true);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        channel0Waiting.await();
        CompletableFuture<Void> main = CompletableFuture.runAsync(() -> {
            try {
                sync.mainArrived(100, () -> 0, LONG);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        assertFalse(channel0Passed.get() || main.isDone(), "neither passes before channel 1 arrives");
        sync.channelArrived(1); // the last one: all pass
        main.get(20, TimeUnit.SECONDS);
        channel0.get(20, TimeUnit.SECONDS);
        assertTrue(channel0Passed.get());
    }

    @Test
    void aFailedChannelFailsTheMainStreamAtItsSyncPoint() throws Exception {
        SyncPoints sync = new SyncPoints(2);
        sync.connected(0);
        sync.connected(1);
        sync.fail(new IOException("multifd channel 1: broken"));
        IOException e = assertThrows(IOException.class, () -> sync.mainArrived(7, () -> 0, LONG));
        assertEquals("multifd channel 1: broken", e.getMessage());
        assertEquals("multifd channel 1: broken", assertThrows(IOException.class, () -> sync.channelArrived(0)).getMessage());
    }

    @Test
    void aChannelThatEndedBeforeTheSyncPointIsNamed() {
        SyncPoints sync = new SyncPoints(3);
        for (int i = 0; i < 3; i++) {
            sync.connected(i);
        }
        sync.ended(2);
        IOException e = assertThrows(IOException.class, () -> sync.mainArrived(1234, () -> 0, LONG));
        assertEquals("multifd channel 2 ended before the sync point at stream offset 1234", e.getMessage());
    }

    @Test
    void aChannelThatNeverConnectedIsNamedWhenNothingMoves() {
        SyncPoints sync = new SyncPoints(4);
        sync.connected(0);
        sync.connected(1);
        IOException e = assertThrows(IOException.class, () -> sync.mainArrived(99, () -> 0, Duration.ofMillis(50)));
        assertEquals("stalled: waited 50 ms at the multifd sync point at stream offset 99 for channel 0, 1, and "
                + "channel 2, 3 of 4 never connected (--multifd-channels 4: the source must use as many)", e.getMessage());
    }

    @Test
    void closingReleasesWhoeverWaits() throws Exception {
        SyncPoints sync = new SyncPoints(1);
        sync.connected(0);
        CompletableFuture<IOException> channel = CompletableFuture.supplyAsync(() -> {
            try {
                sync.channelArrived(0);
                sync.channelArrived(0);
                return null;
            } catch (IOException e) {
                return e;
            }
        });
        sync.mainArrived(1, () -> 0, LONG);
        sync.close();
        assertEquals("the multifd channels were closed", channel.get(20, TimeUnit.SECONDS).getMessage());
    }
}
