package dev.vmmigrate.migration;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * Measures the rate of a rate-limited migration over whole 100 ms windows. Under a binding limit
 * the sender spends each window's allowance in a burst at the window's start, then sleeps, so
 * its RAM byte count moves in steps, one a window. The rate is the slope of bytes over time
 * through those steps, taken as the median of the slopes between steps at least a third of the
 * phase apart (Theil-Sen): a step seen late because this machine's CPUs were busy elsewhere
 * moves a few slopes, not the median.
 *
 * <p>Only the time the limit binds counts: two steps {@link #STALL} or more apart mean the
 * sender did not run for a window (on a loaded machine), lost it and started afresh, so no
 * slope spans such a gap. A sender that kept losing windows leaves no slope: that fails too.
 */
final class WindowRate {
    /** A gap between steps this long means a lost window: a step comes every 100 ms, a late one within 200 ms. */
    private static final long STALL = 190_000_000L;

    private WindowRate() {
    }

    /** A step of the counter: its value right after it moved, and when that was seen. */
    record Step(long bytes, long nanos) {
    }

    /** A measured rate in bytes per second, and the steps it comes from (for a failure's message). */
    record Measurement(double rate, List<Step> steps) {
        @Override
        public String toString() {
            StringBuilder text = new StringBuilder(String.format("%.3f MiB/s from steps (ms after the first: +bytes)",
                    rate / (1 << 20)));
            for (int i = 1; i < steps.size(); i++) {
                text.append(String.format(" %.0f:+%d", (steps.get(i).nanos - steps.getFirst().nanos) / 1e6,
                        steps.get(i).bytes - steps.get(i - 1).bytes));
            }
            return text.toString();
        }
    }

    /** The rate of {@code migration}'s RAM over the next {@code length}. */
    static Measurement measure(OutgoingMigration migration, Duration length) throws InterruptedException {
        return measure(() -> migration.info().ram().transferred(), length);
    }

    static Measurement measure(LongSupplier bytes, Duration length) throws InterruptedException {
        List<Step> steps = new ArrayList<>();
        long start = System.nanoTime();
        long end = start + length.toNanos();
        long guard = start + LiveMigrations.GUARD.toNanos();
        long before = bytes.getAsLong();
        while (System.nanoTime() < end || steps.size() < 2) {
            assertTrue(System.nanoTime() < guard, "the migration sent nothing for " + LiveMigrations.GUARD);
            long now = bytes.getAsLong();
            if (now != before) {
                steps.add(new Step(now, System.nanoTime()));
                before = now;
            }
            Thread.sleep(0, 200_000);
        }
        long minSpan = length.toNanos() / 3;
        List<Double> slopes = new ArrayList<>();
        for (int i = 0; i < steps.size(); i++) {
            for (int j = i + 1; j < steps.size() && steps.get(j).nanos - steps.get(j - 1).nanos < STALL; j++) {
                long span = steps.get(j).nanos - steps.get(i).nanos;
                if (span >= minSpan) {
                    slopes.add((steps.get(j).bytes - steps.get(i).bytes) * 1e9 / span);
                }
            }
        }
        assertTrue(!slopes.isEmpty(), "the sender kept stalling, no stretch of steps to measure: "
                + new Measurement(Double.NaN, steps));
        double[] sorted = slopes.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        double median = sorted.length % 2 == 1 ? sorted[sorted.length / 2]
                : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
        return new Measurement(median, steps);
    }

    /** Asserts the rate measured is within {@code percent} % of {@code limit}, naming what was measured. */
    static void assertWithin(double percent, long limit, Measurement measured, String what) {
        double error = 100.0 * (measured.rate() - limit) / limit;
        assertTrue(Math.abs(error) <= percent, String.format("%s: %+.2f %% off a limit of %.3f MiB/s: %s",
                what, error, limit / (double) (1 << 20), measured));
    }
}
