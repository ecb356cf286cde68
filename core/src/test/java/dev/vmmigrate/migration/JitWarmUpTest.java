package dev.vmmigrate.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class JitWarmUpTest {
    private static final Duration GUARD = Duration.ofSeconds(60);

    @Test
    void everyRoundSavesLoadsAndVerifiesTheScratchGuest() throws InterruptedException {
        // A round that failed (a stream that did not load, a digest that did not verify) would
        // end the warm-up early, leaving the count short.
        try (JitWarmUp warmUp = JitWarmUp.start(3)) {
            assertTrue(warmUp.await(GUARD), "warm-up did not end");
            assertEquals(3, warmUp.roundsDone());
        }
    }

    @Test
    void closingStopsItAfterTheRoundInProgress() throws InterruptedException {
        JitWarmUp warmUp = JitWarmUp.start(1_000_000);
        warmUp.close();
        assertTrue(warmUp.await(GUARD), "warm-up did not stop when closed");
        assertTrue(warmUp.roundsDone() <= 1, "rounds after close: " + warmUp.roundsDone());
    }
}
