package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vmmigrate.migration.LoadProgress;
import dev.vmmigrate.migration.MigrationStatus;
import org.junit.jupiter.api.Test;

/** The receiver's line, golden, at each width and stage of a load. */
class LoadProgressFieldsTest {
    private static final long GIB = 1L << 30;
    private static final LoadProgressFields IN_MIB = new LoadProgressFields(RateUnit.MIB_PER_S);
    /** 125,000,000 bytes a second: 119 MiB/s. */
    private static final double RATE = 125e6;

    private static String line(LoadProgress load, double rate, int columns) {
        return ProgressLayout.fit(IN_MIB.fields(load, rate), columns, LoadProgressFields.percent(load)).plain();
    }

    @Test
    void duringTheLoadAtEachWidth() {
        // 1.5 GiB of pages into a 4 GiB guest: 37 %.
        LoadProgress load = new LoadProgress(MigrationStatus.ACTIVE, 12_345, 3 * GIB / 2, 4 * GIB, 393_216);
        assertEquals("[###########                   ]   37%  received 1.5 GiB  RAM 4.0 GiB  393216 pages loaded  "
                + "119 MiB/s  elapsed 0:12", line(load, RATE, 120));
        assertEquals(" 37%  received 1.5 GiB  RAM 4.0 GiB  119 MiB/s  elapsed 0:12", line(load, RATE, 80));
        assertEquals(" 37%  received 1.5 GiB  RAM 4.0 GiB  119 MiB/s", line(load, RATE, 60));
        assertEquals(" 37%  received 1.5 GiB  119 MiB/s", line(load, RATE, 40));
    }

    @Test
    void beforeTheStreamSaysHowMuchRamComes() {
        LoadProgress start = new LoadProgress(MigrationStatus.ACTIVE, 5, 8, 0, 0);
        assertEquals("loading  received 8 B  0 pages loaded  -- MiB/s  elapsed 0:00", line(start, -1, 120));
    }

    @Test
    void pagesSentAgainKeepThePercentAtOneHundred() {
        LoadProgress later = new LoadProgress(MigrationStatus.ACTIVE, 61_000, 5 * GIB, 4 * GIB, 1_200_000);
        assertEquals(100, LoadProgressFields.percent(later));
        assertEquals("100%  received 5.0 GiB  RAM 4.0 GiB  119 MiB/s", line(later, RATE, 60));
    }

    @Test
    void completedSaysLoaded() {
        LoadProgress done = new LoadProgress(MigrationStatus.COMPLETED, 20_500, 9 * GIB / 2, 4 * GIB, 1_100_000);
        assertEquals("[##############################]  loaded  received 4.5 GiB  RAM 4.0 GiB  1100000 pages loaded  "
                + "119 MiB/s  elapsed 0:20", line(done, RATE, 120));
    }
}
