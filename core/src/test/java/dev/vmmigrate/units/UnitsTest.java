package dev.vmmigrate.units;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class UnitsTest {
    @Test
    void parsesSizesInPowersOfTwo() {
        assertEquals(4096, Units.parseSize("4096"));
        assertEquals(64L << 10, Units.parseSize("64K"));
        assertEquals(512L << 20, Units.parseSize("512M"));
        assertEquals(4L << 30, Units.parseSize("4G"));
        assertEquals(1L << 40, Units.parseSize("1T"));
        assertEquals(4L << 30, Units.parseSize("4g"));
        assertEquals(4L << 30, Units.parseSize("4GiB"));
        assertEquals(4L << 30, Units.parseSize("4GB"));
        assertEquals(3L << 29, Units.parseSize("1.5G"));
        assertEquals(0, Units.parseSize("0"));
        assertEquals(Long.MAX_VALUE, Units.parseSize(Long.toString(Long.MAX_VALUE)));
    }

    @Test
    void refusesBadSizesNamingTheValue() {
        for (String bad : new String[] {"", "G", "abc", "4X", "4 G G", "1..5G", "0x10"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Units.parseSize(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Units.parseSize("-1G")).getMessage().contains("negative"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Units.parseSize("9999999T")).getMessage().contains("too large"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Units.parseSize("9223372036854775808")).getMessage().contains("too large"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Units.parseSize("0.1K")).getMessage().contains("whole"));
        assertThrows(IllegalArgumentException.class, () -> Units.parseSize(null));
    }

    @Test
    void parsesRates() {
        assertEquals(512L << 20, Units.parseRate("512M/s"));
        assertEquals(100L << 20, Units.parseRate("100M"));
        assertEquals(1L << 30, Units.parseRate("1G/s"));
        assertEquals(0, Units.parseRate("0"));
        assertEquals(Long.MAX_VALUE, Units.parseRate("unlimited"));
        assertEquals(Units.UNLIMITED, Units.parseRate("UNLIMITED"));
        for (String bad : new String[] {"fast", "-1M/s", "1M/h", "/s", ""}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Units.parseRate(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
    }

    @Test
    void parsesDurations() {
        assertEquals(Duration.ofMillis(300), Units.parseDuration("300ms"));
        assertEquals(Duration.ofSeconds(5), Units.parseDuration("5s"));
        assertEquals(Duration.ofMinutes(2), Units.parseDuration("2m"));
        assertEquals(Duration.ofHours(1), Units.parseDuration("1h"));
        assertEquals(Duration.ofMillis(1500), Units.parseDuration("1.5s"));
        assertEquals(Duration.ZERO, Units.parseDuration("0"));
        assertEquals(Duration.ZERO, Units.parseDuration("0s"));
        for (String bad : new String[] {"5", "-1s", "s", "5x", "", "ms"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Units.parseDuration(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
    }

    @Test
    void formatsSizes() {
        assertEquals("0 B", Units.formatSize(0));
        assertEquals("1023 B", Units.formatSize(1023));
        assertEquals("1 KiB", Units.formatSize(1024));
        assertEquals("1.5 GiB", Units.formatSize(3L << 29));
        assertEquals("64 GiB", Units.formatSize(64L << 30));
        assertEquals("-2 MiB", Units.formatSize(-(2L << 20)));
        assertEquals("8 EiB", Units.formatSize(Long.MAX_VALUE));
        assertEquals("64 MiB/s", Units.formatRate(64L << 20));
        assertEquals("unlimited", Units.formatRate(Units.UNLIMITED));
    }

    @Test
    void compactFormRoundTrips() {
        for (long v : new long[] {0, 1, 4095, 4096, 256L << 20, 3L << 29, 5L << 40, 12345}) {
            assertEquals(v, Units.parseSize(Units.formatSizeCompact(v)), Units.formatSizeCompact(v));
        }
        assertEquals("256M", Units.formatSizeCompact(256L << 20));
    }
}
