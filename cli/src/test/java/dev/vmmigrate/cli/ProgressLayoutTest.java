package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.cli.ProgressLayout.Field;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Fitting fields to a width: the least important go first, order stays, the last column stays free. */
class ProgressLayoutTest {
    private static final List<Field> FIELDS = List.of(new Field("aaaa", 0), new Field("bbbbbbbb", 3),
            new Field("cccc", 1), new Field("dddddd", 2));

    @Test
    void dropsTheHighestRankFirstAndKeepsTheOrder() {
        assertEquals("aaaa  bbbbbbbb  cccc  dddddd", ProgressLayout.fit(FIELDS, 29, -1).text());
        assertEquals("aaaa  cccc  dddddd", ProgressLayout.fit(FIELDS, 28, -1).text());
        assertEquals("aaaa  cccc", ProgressLayout.fit(FIELDS, 18, -1).text());
        assertEquals("aaaa", ProgressLayout.fit(FIELDS, 10, -1).text());
    }

    @Test
    void aFieldWiderThanTheTerminalIsCut() {
        assertEquals("aa", ProgressLayout.fit(FIELDS, 3, -1).text());
    }

    @Test
    void theBarTakesOnlyTheRoomLeft() {
        ProgressLayout.Fitted none = ProgressLayout.fit(FIELDS, 29 + 13, 50);
        assertEquals(0, none.barCells(), "9 cells would be too few");
        ProgressLayout.Fitted narrow = ProgressLayout.fit(FIELDS, 29 + 14, 50);
        assertEquals("[#####     ]  aaaa  bbbbbbbb  cccc  dddddd", narrow.plain());
        assertEquals(ProgressLayout.MAX_BAR, ProgressLayout.fit(FIELDS, 200, 50).barCells());
        assertEquals(15, ProgressLayout.fit(FIELDS, 29 + 23, 50).barCells(), "19 cells of room: 15, in steps of 5");
        assertEquals(0, ProgressLayout.fit(FIELDS, 200, -1).barCells(), "no percent, no bar");
        assertEquals("aaaa  cccc  dddddd", ProgressLayout.fit(FIELDS, 28, 50).plain(),
                "a field dropped: the bar, less important still, does not take its room");
    }

    @Test
    void noWidthEverWraps() {
        for (int columns = 1; columns <= 200; columns++) {
            assertTrue(ProgressLayout.fit(FIELDS, columns, 42).plain().length() <= Math.max(1, columns - 1),
                    columns + " columns");
        }
    }

    @Test
    void clocksAndShares() {
        assertEquals("0:00", ProgressLayout.clock(999));
        assertEquals("12:34", ProgressLayout.clock(754_000));
        assertEquals("1:02:03", ProgressLayout.clock(3_723_000));
        assertEquals("1.8/4.0 GiB", ProgressLayout.partOf(7L << 28, 4L << 30));
        assertEquals("0.5/2.0 GiB", ProgressLayout.partOf(1L << 29, 2L << 30));
        assertEquals("0.1/4.0 KiB", ProgressLayout.partOf(100, 4096));
        assertEquals("13.0 MiB", ProgressLayout.size(13L << 20));
        assertEquals("1.5 GiB", ProgressLayout.size(3L << 29));
        assertEquals("512 B", ProgressLayout.size(512));
        assertEquals("300/512 B", ProgressLayout.partOf(300, 512));
    }
}
