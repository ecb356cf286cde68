package dev.vmmigrate.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.vmstate.FieldType;
import dev.vmmigrate.vmstate.FieldValues;
import org.junit.jupiter.api.Test;

class TimerDeviceTest {
    @Test
    void descriptionIsQemus() {
        var d = TimerDevice.DESCRIPTION;
        assertEquals("timer", d.name());
        assertEquals(2, d.version());
        assertEquals(1, d.minimumVersion());
        assertEquals(3, d.fields().size());
        assertEquals(FieldType.INT64, d.fields().get(0).type());
        assertEquals(FieldType.UNUSED_BUFFER, d.fields().get(1).type());
        assertEquals(8, d.fields().get(1).size());
        assertEquals("cpu_clock_offset", d.fields().get(2).name());
        assertEquals(2, d.fields().get(2).sinceVersion());
    }

    @Test
    void clocksRunOnlyWhileEnabledAndMigrate() throws InterruptedException {
        TimerDevice source = new TimerDevice();
        assertEquals(0, source.clockNs());
        source.enable();
        Thread.sleep(5);
        source.disable();
        long frozen = source.clockNs();
        assertTrue(frozen >= 5_000_000L, "clock " + frozen);
        Thread.sleep(5);
        assertEquals(frozen, source.clockNs());

        FieldValues saved = source.save();
        TimerDevice destination = new TimerDevice();
        destination.load(saved);
        assertEquals(frozen, destination.clockNs());
        assertEquals(source.ticks(), destination.ticks());
        assertFalse(destination.isEnabled());
        destination.enable();
        assertTrue(destination.clockNs() >= frozen);
    }

    @Test
    void versionOneStreamsHaveNoClockOffset() {
        TimerDevice device = new TimerDevice();
        device.load(new FieldValues().put("cpu_ticks_offset", 1234L));
        assertEquals(1234L, device.ticks());
        assertEquals(0, device.clockNs());
    }
}
