package dev.vmmigrate.guest;

import dev.vmmigrate.vmstate.FieldType;
import dev.vmmigrate.vmstate.FieldValues;
import dev.vmmigrate.vmstate.VmStateDescription;
import dev.vmmigrate.vmstate.VmStateField;
import java.util.List;
import java.util.Objects;

/**
 * The {@code vm-migrate/workload} device: everything the destination needs for its workload to
 * continue exactly where the source's stopped (pattern, rate, hot set, seed, step counter), and
 * the RAM size the step function depends on. The throttle does not migrate (QEMU resets it too).
 */
public final class WorkloadDevice {
    /** Section id string (our own sections start with {@code vm-migrate/}). */
    public static final String IDSTR = "vm-migrate/workload";
    /** Section instance id. */
    public static final int INSTANCE_ID = 0;
    public static final VmStateDescription DESCRIPTION = new VmStateDescription(IDSTR, 1, List.of(
            VmStateField.integer("pattern", FieldType.UINT8),
            VmStateField.integer("hotset_percent", FieldType.UINT8),
            VmStateField.integer("rate", FieldType.UINT64),
            VmStateField.integer("seed", FieldType.UINT64),
            VmStateField.integer("steps", FieldType.UINT64),
            VmStateField.integer("ram_pages", FieldType.UINT64)));

    private final Workload workload;

    public WorkloadDevice(Workload workload) {
        this.workload = Objects.requireNonNull(workload, "workload");
    }

    /** The workload this device saves and loads. */
    public Workload workload() {
        return workload;
    }

    /** The workload's state (pause the workload first for an exact step counter). */
    public FieldValues save() {
        Workload.State state = workload.state();
        WorkloadSpec spec = state.spec();
        return new FieldValues()
                .put("pattern", (long) spec.pattern().code())
                .put("hotset_percent", (long) spec.hotsetPercent())
                .put("rate", spec.rate())
                .put("seed", state.seed())
                .put("steps", state.steps())
                .put("ram_pages", workload.totalPages());
    }

    /**
     * Validates the loaded state and hands it to the workload (which must be paused or not yet
     * started): known pattern, rate and step counter not negative, hot set in 1..100, and the same
     * number of RAM pages as this guest.
     */
    public void load(FieldValues values) {
        long code = values.getLong("pattern");
        long percent = values.getLong("hotset_percent");
        long rate = values.getLong("rate");
        long seed = values.getLong("seed");
        long steps = values.getLong("steps");
        long pages = values.getLong("ram_pages");
        WorkloadSpec.Pattern pattern;
        if (code < 0 || code > 255) {
            throw new IllegalArgumentException(IDSTR + ": bad pattern code " + code);
        }
        try {
            pattern = WorkloadSpec.Pattern.fromCode((int) code);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(IDSTR + ": " + e.getMessage(), e);
        }
        if (rate < 0) {
            throw new IllegalArgumentException(IDSTR + ": bad rate " + Long.toUnsignedString(rate));
        }
        if (steps < 0) {
            throw new IllegalArgumentException(IDSTR + ": bad step counter " + Long.toUnsignedString(steps));
        }
        if (pattern == WorkloadSpec.Pattern.HOTSET && (percent < 1 || percent > 100)) {
            throw new IllegalArgumentException(IDSTR + ": bad hot set " + percent + "% (expected 1..100)");
        }
        if (pages != workload.totalPages()) {
            throw new IllegalArgumentException(IDSTR + ": the source guest has " + Long.toUnsignedString(pages)
                    + " RAM pages, this guest has " + workload.totalPages());
        }
        int hot = pattern == WorkloadSpec.Pattern.HOTSET ? (int) percent : WorkloadSpec.DEFAULT_HOTSET_PERCENT;
        workload.restore(new Workload.State(new WorkloadSpec(pattern, rate, hot), seed, steps));
    }
}
