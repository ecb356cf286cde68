package dev.vmmigrate.guest;

import dev.vmmigrate.vmstate.FieldType;
import dev.vmmigrate.vmstate.FieldValues;
import dev.vmmigrate.vmstate.VmStateDescription;
import dev.vmmigrate.vmstate.VmStateField;
import java.util.List;

/**
 * The guest clocks, as QEMU's {@code timers_state} (softmmu/cpu-timers.c): while the guest runs,
 * the two offsets are added to the host clock; while it is stopped they hold the guest's tick
 * count and clock in nanoseconds, and that is what migrates. Both clocks advance only while
 * the guest runs. Thread-safe.
 */
public final class TimerDevice {
    /** Section id string. */
    public static final String IDSTR = "timer";
    /** Section instance id. */
    public static final int INSTANCE_ID = 0;
    /** QEMU 7.2's {@code vmstate_timers} (without the icount subsections, which machine {@code none} never sends). */
    public static final VmStateDescription DESCRIPTION = new VmStateDescription("timer", 2, 1, List.of(
            VmStateField.integer("cpu_ticks_offset", FieldType.INT64),
            VmStateField.unused(8),
            VmStateField.integer("cpu_clock_offset", FieldType.INT64).since(2)), List.of());

    private long ticksOffset;
    private long clockOffset;
    private boolean enabled;

    /** Starts both clocks from the values they hold (QEMU's cpu_enable_ticks). */
    public synchronized void enable() {
        if (!enabled) {
            long now = System.nanoTime();
            ticksOffset -= now;
            clockOffset -= now;
            enabled = true;
        }
    }

    /** Freezes both clocks at their current values (QEMU's cpu_disable_ticks). */
    public synchronized void disable() {
        if (enabled) {
            long now = System.nanoTime();
            ticksOffset += now;
            clockOffset += now;
            enabled = false;
        }
    }

    /** Whether the clocks run. */
    public synchronized boolean isEnabled() {
        return enabled;
    }

    /** Guest ticks (nanoseconds of guest run time; QEMU counts host CPU cycles). */
    public synchronized long ticks() {
        return enabled ? ticksOffset + System.nanoTime() : ticksOffset;
    }

    /** Guest virtual clock in nanoseconds (time the guest has been running). */
    public synchronized long clockNs() {
        return enabled ? clockOffset + System.nanoTime() : clockOffset;
    }

    /** The fields as they go on the wire: the frozen values (computed as if stopped now if running). */
    public synchronized FieldValues save() {
        return new FieldValues()
                .put("cpu_ticks_offset", ticks())
                .put("unused", new byte[8])
                .put("cpu_clock_offset", clockNs());
    }

    /** Takes the loaded clocks over; a version 1 stream has no {@code cpu_clock_offset}, which then stays. */
    public synchronized void load(FieldValues values) {
        long ticks = values.getLong("cpu_ticks_offset");
        long clock = values.has("cpu_clock_offset") ? values.getLong("cpu_clock_offset") : clockNs();
        long now = enabled ? System.nanoTime() : 0;
        ticksOffset = ticks - now;
        clockOffset = clock - now;
    }
}
