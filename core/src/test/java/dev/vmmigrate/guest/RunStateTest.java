package dev.vmmigrate.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class RunStateTest {
    @Test
    void namesAreQemus() {
        assertEquals("prelaunch", RunState.PRELAUNCH.qemuName());
        assertEquals("running", RunState.RUNNING.qemuName());
        assertEquals("paused", RunState.PAUSED.qemuName());
        assertEquals("inmigrate", RunState.INMIGRATE.qemuName());
        assertEquals("finish-migrate", RunState.FINISH_MIGRATE.qemuName());
        assertEquals("postmigrate", RunState.POSTMIGRATE.qemuName());
        assertEquals("internal-error", RunState.INTERNAL_ERROR.qemuName());
        for (RunState s : RunState.values()) {
            assertEquals(s, RunState.fromQemuName(s.qemuName()));
        }
    }

    @Test
    void unknownNamesAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RunState.fromQemuName("RUNNING"));
        assertTrue(e.getMessage().contains("'RUNNING'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RunState.fromQemuName("finish_migrate"));
        assertThrows(IllegalArgumentException.class, () -> RunState.fromQemuName(""));
    }
}
