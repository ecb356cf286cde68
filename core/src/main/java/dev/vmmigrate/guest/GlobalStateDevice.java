package dev.vmmigrate.guest;

import dev.vmmigrate.vmstate.FieldType;
import dev.vmmigrate.vmstate.FieldValues;
import dev.vmmigrate.vmstate.VmStateDescription;
import dev.vmmigrate.vmstate.VmStateField;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * QEMU's {@code globalstate} (migration/global_state.c): the run state the guest had before the
 * migration stopped it, so the destination knows whether to resume. The source stores it just
 * before entering finish-migrate; the destination reads it with {@link #runState()} after loading.
 * Thread-safe.
 */
public final class GlobalStateDevice {
    /** Section id string. */
    public static final String IDSTR = "globalstate";
    /** Section instance id. */
    public static final int INSTANCE_ID = 0;
    /** Size of the NUL-padded run-state buffer. */
    public static final int RUNSTATE_BYTES = 100;
    /** QEMU 7.2's {@code vmstate_globalstate}. */
    public static final VmStateDescription DESCRIPTION = new VmStateDescription("globalstate", 1, List.of(
            VmStateField.integer("size", FieldType.UINT32),
            VmStateField.buffer("runstate", RUNSTATE_BYTES)));

    private RunState runState;

    /** Starts out as {@code running}, what a stream from a running guest carries. */
    public GlobalStateDevice() {
        this(RunState.RUNNING);
    }

    public GlobalStateDevice(RunState initial) {
        this.runState = Objects.requireNonNull(initial, "initial");
    }

    /** Records the state to send (QEMU's global_state_store). */
    public synchronized void store(RunState state) {
        this.runState = Objects.requireNonNull(state, "state");
    }

    /** The stored state, or after {@link #load} the state the source had. */
    public synchronized RunState runState() {
        return runState;
    }

    /** {@code size} = name length + 1, {@code runstate} = the name NUL-padded to 100 bytes. */
    public synchronized FieldValues save() {
        byte[] name = runState.qemuName().getBytes(StandardCharsets.US_ASCII);
        return new FieldValues()
                .put("size", (long) name.length + 1)
                .put("runstate", Arrays.copyOf(name, RUNSTATE_BYTES));
    }

    /** Validates and takes the loaded state: size in 1..100 and a known run-state name. */
    public void load(FieldValues values) {
        long size = values.getLong("size");
        byte[] buffer = values.getBytes("runstate");
        int end = 0;
        while (end < buffer.length && buffer[end] != 0) {
            end++;
        }
        String name = new String(buffer, 0, end, StandardCharsets.ISO_8859_1);
        if (size < 1 || size > RUNSTATE_BYTES) {
            throw new IllegalArgumentException("globalstate: bad size " + size + " (run state " + dev.vmmigrate.stream.StreamText.quote(name) + "), expected 1.." + RUNSTATE_BYTES);
        }
        RunState state;
        try {
            state = RunState.fromQemuName(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("globalstate: bad run state " + dev.vmmigrate.stream.StreamText.quote(name), e);
        }
        store(state);
    }

}
