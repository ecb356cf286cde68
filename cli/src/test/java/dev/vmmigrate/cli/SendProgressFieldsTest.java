package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vmmigrate.migration.MigrationInfo;
import org.junit.jupiter.api.Test;

/** The sender's line, golden, as each width shows it: fields drop from the least important up, never wrapped. */
class SendProgressFieldsTest {
    private static final long GIB = 1L << 30;
    /** query-migrate's mbps for 125,000,000 bytes a second (119.2 MiB/s). */
    private static final double MBPS = 1000;

    private static final SendProgressFields IN_MIB = new SendProgressFields(RateUnit.MIB_PER_S);

    private static MigrationInfo.Ram ram(long transferred, long remaining, double mbps, long dirtyPagesRate) {
        return new MigrationInfo.Ram(transferred, remaining, 4 * GIB, 0, 0, transferred / 4096, transferred,
                dirtyPagesRate, mbps, 1, 4096, 0, transferred, 0, 0, 0, 0);
    }

    private static MigrationInfo active(long totalTime, Long expectedDowntime, MigrationInfo.Ram ram) {
        return new MigrationInfo("active", totalTime, 10L, null, expectedDowntime, ram, null, null, null, null, null,
                null);
    }

    /** 1.75 GiB of 4 GiB sent, 2.25 GiB left at 119 MiB/s: 43 % and 19 s to go. */
    private static final MigrationInfo FIRST_PASS = active(12_345, 300L, ram(GIB * 7 / 4, GIB * 9 / 4, MBPS, 0));
    /** Pass 3: 1 GiB dirty left, the guest dirtying 10 MiB/s. */
    private static final MigrationInfo THIRD_PASS = active(61_000, 812L, ram(GIB * 21 / 4, GIB, MBPS, 2560));

    private static String line(SendProgressFields format, MigrationInfo info, long pass, int columns) {
        int percent = SendProgressFields.firstPassPercent(info, pass, 0);
        return ProgressLayout.fit(format.fields(info, pass, percent), columns, info.ram() == null ? -1 : percent)
                .plain();
    }

    @Test
    void firstPassAtEachWidth() {
        assertEquals("[##########               ]   43%  1.8/4.0 GiB sent  2.3 GiB left  119 MiB/s  ETA 0:19  "
                + "downtime ~300 ms  elapsed 0:12", line(IN_MIB, FIRST_PASS, 1, 120));
        assertEquals(" 43%  2.3 GiB left  119 MiB/s  ETA 0:19  downtime ~300 ms  elapsed 0:12",
                line(IN_MIB, FIRST_PASS, 1, 80));
        assertEquals(" 43%  2.3 GiB left  119 MiB/s  ETA 0:19  downtime ~300 ms", line(IN_MIB, FIRST_PASS, 1, 60));
        assertEquals(" 43%  2.3 GiB left  119 MiB/s  ETA 0:19", line(IN_MIB, FIRST_PASS, 1, 40));
    }

    @Test
    void laterPassShowsItsNumberAndTheDirtyRate() {
        assertEquals("pass 3  5.3/4.0 GiB sent  1.0 GiB left  119 MiB/s  ETA 0:08  dirty 10.0 MiB/s  "
                + "downtime ~812 ms  elapsed 1:01", line(IN_MIB, THIRD_PASS, 3, 120));
        assertEquals("pass 3  1.0 GiB left  119 MiB/s  ETA 0:08  downtime ~812 ms  elapsed 1:01",
                line(IN_MIB, THIRD_PASS, 3, 80));
        assertEquals("pass 3  1.0 GiB left  119 MiB/s  ETA 0:08  downtime ~812 ms", line(IN_MIB, THIRD_PASS, 3, 60));
        assertEquals("pass 3  1.0 GiB left  ETA 0:08", line(IN_MIB, THIRD_PASS, 3, 40));
    }

    @Test
    void setupHasNothingMeasuredYet() {
        MigrationInfo setup = new MigrationInfo("setup", 35L, null, null, null, null, null, null, null, null, null,
                null);
        for (int columns : new int[] {40, 60, 80, 120}) {
            assertEquals("setup  elapsed 0:00", line(IN_MIB, setup, 0, columns), columns + " columns");
        }
    }

    @Test
    void beforeTheFirstRateNoEtaIsGuessed() {
        MigrationInfo justStarted = active(800, 300L, ram(0, 4 * GIB, -1, 0));
        assertEquals("  0%  0.0/4.0 GiB sent  4.0 GiB left  -- MiB/s  ETA --:--  downtime ~300 ms  elapsed 0:00",
                line(IN_MIB, justStarted, 1, 100));
    }

    @Test
    void completedShowsTheActualDowntime() {
        MigrationInfo completed = new MigrationInfo("completed", 20_500L, 10L, 120L, null,
                ram(GIB * 9 / 2, 0, MBPS, 0), null, null, null, null, null, null);
        assertEquals("[##############################]  done  4.5/4.0 GiB sent  0 B left  119 MiB/s  downtime 120 ms  "
                + "elapsed 0:20", line(IN_MIB, completed, 2, 120));
        assertEquals("done  0 B left  119 MiB/s  downtime 120 ms  elapsed 0:20", line(IN_MIB, completed, 2, 60));
    }

    @Test
    void ratesComeInTheUnitTheLimitWasGivenIn() {
        MigrationInfo fast = active(12_345, 300L, ram(GIB * 7 / 4, GIB * 9 / 4, 8000, 0)); // 10^9 bytes/s
        assertEquals(" 43%  2.3 GiB left  954 MiB/s  ETA 0:02  downtime ~300 ms",
                line(new SendProgressFields(RateUnit.of("unlimited")), fast, 1, 60));
        assertEquals(" 43%  2.3 GiB left  0.9 GiB/s  ETA 0:02  downtime ~300 ms",
                line(new SendProgressFields(RateUnit.of("1G/s")), fast, 1, 60));
        MigrationInfo slow = active(12_345, 300L, ram(GIB * 7 / 4, GIB * 9 / 4, 4.096, 0)); // 512,000 bytes/s
        assertEquals(" 43%  2.3 GiB left  500 KiB/s  ETA 1:18:38",
                line(new SendProgressFields(RateUnit.of("512K/s")), slow, 1, 60));
    }

    @Test
    void plainLinesCarryEveryFieldWithinTheirWidth() {
        String plain = ProgressLayout.fit(IN_MIB.fields(THIRD_PASS, 3, 100), ProgressReporter.PLAIN_COLUMNS, -1).text();
        assertEquals("pass 3  5.3/4.0 GiB sent  1.0 GiB left  119 MiB/s  ETA 0:08  dirty 10.0 MiB/s  downtime ~812 ms  "
                + "elapsed 1:01", plain);
    }

    @Test
    void theFirstPassPercentNeverRunsBackwards() {
        MigrationInfo dirtiedAgain = active(13_000, 300L, ram(GIB * 2, GIB * 3, MBPS, 0)); // 25 % by itself
        assertEquals(43, SendProgressFields.firstPassPercent(dirtiedAgain, 1, 43));
        assertEquals(25, SendProgressFields.firstPassPercent(dirtiedAgain, 1, 0));
        assertEquals(100, SendProgressFields.firstPassPercent(dirtiedAgain, 2, 0));
    }
}
