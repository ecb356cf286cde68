package dev.vmmigrate.guest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.vmstate.FieldType;
import dev.vmmigrate.vmstate.FieldValues;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class GlobalStateDeviceTest {
    @Test
    void descriptionIsQemus() {
        var d = GlobalStateDevice.DESCRIPTION;
        assertEquals("globalstate", d.name());
        assertEquals(1, d.version());
        assertEquals(2, d.fields().size());
        assertEquals("size", d.fields().get(0).name());
        assertEquals(FieldType.UINT32, d.fields().get(0).type());
        assertEquals("runstate", d.fields().get(1).name());
        assertEquals(FieldType.BUFFER, d.fields().get(1).type());
        assertEquals(100, d.fields().get(1).size());
    }

    @Test
    void savesTheNameNulPadded() {
        GlobalStateDevice device = new GlobalStateDevice();
        FieldValues values = device.save();
        assertEquals(8, values.getLong("size"));
        assertArrayEquals(Arrays.copyOf("running".getBytes(StandardCharsets.US_ASCII), 100), values.getBytes("runstate"));
    }

    @Test
    void roundTripsEveryState() {
        for (RunState state : RunState.values()) {
            GlobalStateDevice source = new GlobalStateDevice();
            source.store(state);
            GlobalStateDevice destination = new GlobalStateDevice(RunState.INMIGRATE);
            destination.load(source.save());
            assertEquals(state, destination.runState());
        }
    }

    @Test
    void refusesBadNamesAndSizes() {
        GlobalStateDevice device = new GlobalStateDevice();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> device.load(values(4, "xyz")));
        assertEquals("globalstate: bad run state 'xyz'", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> device.load(values(1, "")));
        assertThrows(IllegalArgumentException.class, () -> device.load(values(0, "running")));
        assertThrows(IllegalArgumentException.class, () -> device.load(values(101, "running")));
        assertEquals(RunState.RUNNING, device.runState(), "a refused load changes nothing");
        device.load(values(7, "paused"));
        assertEquals(RunState.PAUSED, device.runState());
    }

    private static FieldValues values(long size, String name) {
        return new FieldValues().put("size", size)
                .put("runstate", Arrays.copyOf(name.getBytes(StandardCharsets.US_ASCII), 100));
    }
}
