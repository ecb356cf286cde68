package dev.vmmigrate.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.WorkloadSpec.Pattern;
import dev.vmmigrate.units.Units;
import org.junit.jupiter.api.Test;

class WorkloadSpecTest {
    @Test
    void parsesTheForms() {
        assertEquals(new WorkloadSpec(Pattern.RANDOM, 64L << 20), WorkloadSpec.parse("random:64M/s"));
        assertEquals(new WorkloadSpec(Pattern.SWEEP, 1L << 30), WorkloadSpec.parse("sweep:1G/s"));
        assertEquals(new WorkloadSpec(Pattern.HOTSET, 256L << 20, 5), WorkloadSpec.parse("hotset:256M/s:5%"));
        assertEquals(new WorkloadSpec(Pattern.HOTSET, 256L << 20, 10), WorkloadSpec.parse("hotset:256M/s"));
        assertEquals(new WorkloadSpec(Pattern.RANDOM, Units.UNLIMITED), WorkloadSpec.parse("random:unlimited"));
        assertEquals(WorkloadSpec.NONE, WorkloadSpec.parse("none"));
        assertTrue(WorkloadSpec.parse("none").idle());
        assertTrue(WorkloadSpec.parse("random:0").idle());
        assertFalse(WorkloadSpec.parse("random:1M/s").idle());
    }

    @Test
    void textFormRoundTrips() {
        for (String text : new String[] {"none", "random:64M/s", "sweep:1G/s", "hotset:256M/s:5%", "random:unlimited", "sweep:12345/s"}) {
            WorkloadSpec spec = WorkloadSpec.parse(text);
            assertEquals(text, spec.toString());
            assertEquals(spec, WorkloadSpec.parse(spec.toString()));
        }
    }

    @Test
    void errorsNameTheValueAndTheForms() {
        for (String bad : new String[] {"fast", "random", "random:", "random:lots", "sweep:1G/s:5%", "hotset:1M/s:0%",
                "hotset:1M/s:101%", "hotset:1M/s:x", "none:1M/s", "random:-1M/s"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WorkloadSpec.parse(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
            assertTrue(e.getMessage().contains("none, random:RATE, sweep:RATE, hotset:RATE[:PERCENT%]")
                    || e.getMessage().contains("valid forms"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> WorkloadSpec.parse(""));
        assertThrows(IllegalArgumentException.class, () -> new WorkloadSpec(Pattern.RANDOM, -1));
    }
}
